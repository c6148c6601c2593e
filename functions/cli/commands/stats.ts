/**
 * `fleetmedic stats`: recovery attempts and success rates per strategy and overall (GET /v1/stats/recoveries),
 * fleet-wide or for one device, over 1 h / 24 h / 7 d or one window (`--since 24h`).
 */
import { type Command, InvalidArgumentError } from 'commander';
import type * as z from 'zod/mini';
import { MAX_STATS_SINCE_SECONDS, type RecoveryStats, type StrategyStats } from '../../contract/stats.js';
import type { ApiClient } from '../api-client.js';
import { paint, parseDuration, table, type Style } from '../format.js';

/** What a command file needs from the program: the connection, output and clock of this invocation. */
export interface CommandDeps {
  ctx: (cmd: Command) => {
    client: () => ApiClient;
    emit: (data: unknown, human: () => string) => void;
    style: Style;
    now: number;
  };
}

export function registerStatsCommands(program: Command, deps: CommandDeps): void {
  program
    .command('stats')
    .description(
      'recovery attempts and success rates by strategy (restart, recreate, repull, RETRY, SKIP, MANUAL, ESCALATE)',
    )
    .option('--device <device-id>', 'only this device')
    .option('--since <duration>', 'one window ending now, e.g. 1h, 24h, 7d (default: 1h, 24h and 7d)', sinceSeconds)
    .action(async (o: { device?: string; since?: number }, cmd: Command) => {
      const { client, emit, style } = deps.ctx(cmd);
      const { data } = await client().call<RecoveryStats>('getRecoveryStats', {
        query: { deviceId: o.device, sinceSeconds: o.since },
      });
      emit(data, () => statsView(data, style));
    });
}

function sinceSeconds(v: string): number {
  const s = parseDuration(v);
  if (s === undefined || s < 60 || s > MAX_STATS_SINCE_SECONDS)
    throw new InvalidArgumentError('--since must be a duration from 1m to 7d, e.g. 1h, 24h, 7d');
  return s;
}

const pct = (r: number | null) => (r === null ? '-' : `${(r * 100).toFixed(1)} %`);

export function statsView(data: RecoveryStats, style: Style): string {
  const out = [
    paint(`Recovery statistics — ${data.deviceId ?? 'whole fleet'}`, 'bold', style),
    `RecoverySuccessRateLow fires below ${pct(data.alert.threshold)} over 24 h with at least ${data.alert.minAttempts} attempts (fleet-wide).`,
  ];
  const rate = (s: z.output<typeof StrategyStats>) => {
    const text = pct(s.successRate);
    return s.successRate === null ? text : paint(text, s.successRate < data.alert.threshold ? 'red' : 'green', style);
  };
  for (const w of data.windows) {
    out.push('', `${paint(w.window, 'bold', style)} (since ${w.since})`);
    if (w.total.attempts === 0) {
      out.push('  no recovery attempts');
      continue;
    }
    const rows = [...w.strategies, w.total].map((s) => [
      s.strategy === 'all' ? paint('all', 'bold', style) : s.strategy,
      String(s.attempts),
      String(s.succeeded),
      String(s.failed),
      rate(s),
    ]);
    out.push(
      table(['STRATEGY', 'ATTEMPTS', 'SUCCEEDED', 'FAILED', 'SUCCESS RATE'], rows, style)
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  }
  return out.join('\n');
}
