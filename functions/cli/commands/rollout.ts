/**
 * `fleetmedic rollout create|list|status|pause|resume|abort`: fleet rollouts from the operator's seat
 * (docs/architecture.md "Rollouts"), of a target state (`--target-file`) or of a job (`--job <type>`).
 * `status --watch` redraws the progress (per stage succeeded / failed / in progress / pending / skipped, a progress
 * bar, the abort criteria and how close they are) until the rollout finished or Ctrl-C; with --json it prints one
 * JSON document per poll instead.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import type * as z from 'zod/mini';
import { JOB_TYPES } from '../../contract/jobs.js';
import type { RolloutList, RolloutView } from '../../contract/rollouts.js';
import type { ApiClient } from '../api-client.js';
import { usageError } from '../errors.js';
import { paint, parseDuration, relativeTime, table, type Style } from '../format.js';

type Rollout = z.output<typeof RolloutView>;
type Closeness = Rollout['criteria'];

export interface RolloutCommandDeps {
  ctx: (cmd: Command) => {
    client: () => ApiClient;
    emit: (data: unknown, human: () => string) => void;
    style: Style;
    now: number;
  };
  io: { stdout: (s: string) => void; now: () => number; color: boolean; sleep?: (ms: number) => Promise<void> };
}

const FINISHED = new Set(['aborted', 'completed']);
/** A target change is rolled out as a target (--target-file), not as a job. */
const ROLLOUT_JOB_TYPES = JOB_TYPES.filter((t) => t !== 'set-target-state');

export function registerRolloutCommands(program: Command, deps: RolloutCommandDeps): void {
  const rollout = program
    .command('rollout')
    .description('fleet rollouts: one target to many devices, a canary then waves, aborted when failures pass a limit');

  rollout
    .command('create')
    .description(
      'start a rollout, e.g. --selector site=north,role=pump --target-file web-2.json --canary 1 --rate 20, or of a job: --job restart-service --job-params \'{"service":"web"}\'',
    )
    .option('--selector <labels>', 'devices whose labels match every pair, e.g. site=north,role=pump')
    .option('--devices <ids>', 'or an explicit comma-separated list of device ids')
    .option('--target-file <file>', 'the target state (JSON, as for `fleetmedic target`)')
    .addOption(new Option('--job <type>', 'or a job for every device').choices(ROLLOUT_JOB_TYPES))
    .option(
      '--job-params <json>',
      'the job\'s params (JSON object, as for `fleetmedic jobs enqueue`), e.g. {"service":"web"}',
    )
    .option(
      '--job-timeout <duration>',
      "each device's job may stay IN_PROGRESS this long, e.g. 5m (default: the job type's)",
    )
    .option('--canary <n|n%>', 'canary size: a device count or a percentage', '1')
    .requiredOption('--rate <devices-per-minute>', 'wave size: devices moved per minute', (v) => whole(v, '--rate'))
    .option('--increase <factor>', 'multiply each next wave by this after a successful one (≥ 1)', (v) => factor(v))
    .option('--abort-failure-percent <p>', 'abort when this % of finished devices failed', (v) =>
      percent(v, '--abort-failure-percent'),
    )
    .option('--abort-failure-count <n>', 'abort when this many devices failed', (v) =>
      whole(v, '--abort-failure-count'),
    )
    .option('--min-finished <n>', 'judge the percentage only after this many devices finished', (v) =>
      whole(v, '--min-finished'),
    )
    .addOption(
      new Option(
        '--on-abort <what>',
        'on abort: give moved devices their previous target back, or leave them (default: rollback; a job: leave, the only choice)',
      ).choices(['rollback', 'leave']),
    )
    .option('--device-timeout <duration>', 'a moved device without a verdict this long failed, e.g. 30m')
    .option('--description <text>', 'what and why (shown in list and status)')
    .action(async (o: CreateOptions, cmd: Command) => {
      const { client, emit, style, now } = deps.ctx(cmd);
      const body = createBody(o);
      const { data } = await client().call<Rollout>('createRollout', { body });
      emit(data, () => `Rollout ${data.rolloutId} created.\n${statusView(data, now, style)}`);
    });

  rollout
    .command('list')
    .description('rollouts, newest first')
    .option('--limit <n>', 'how many', (v) => whole(v, '--limit'), 20)
    .option('--next-token <token>', 'the next page (printed under the list)')
    .action(async (o: { limit: number; nextToken?: string }, cmd: Command) => {
      const { client, emit, style, now } = deps.ctx(cmd);
      const { data } = await client().call<z.output<typeof RolloutList>>('listRollouts', {
        query: { limit: o.limit, nextToken: o.nextToken },
      });
      emit(data, () => listView(data, now, style));
    });

  rollout
    .command('status')
    .description('progress per stage, the abort criteria and how close they are; --watch redraws until it finished')
    .argument('<rollout-id>')
    .option('--watch', 'redraw until the rollout finished (Ctrl-C to stop watching; the rollout goes on)')
    .option('--interval <seconds>', 'seconds between redraws with --watch', (v) => whole(v, '--interval'), 5)
    .action(async (rolloutId: string, o: { watch?: boolean; interval: number }, cmd: Command) => {
      const { client, emit, style } = deps.ctx(cmd);
      const api = client();
      const json = !!cmd.optsWithGlobals<{ json?: boolean }>().json;
      const sleep = deps.io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
      for (;;) {
        const { data } = await api.call<Rollout>('getRollout', { params: { rolloutId } });
        if (!o.watch) return emit(data, () => statusView(data, deps.io.now(), style));
        if (json) deps.io.stdout(`${JSON.stringify(data)}\n`);
        else
          deps.io.stdout(
            `${deps.io.color ? '\x1b[H\x1b[2J' : ''}${statusView(data, deps.io.now(), style)}\n${
              FINISHED.has(data.status) ? '' : paint(`(every ${o.interval} s; Ctrl-C stops watching)\n`, 'dim', style)
            }`,
          );
        if (FINISHED.has(data.status)) return;
        await sleep(o.interval * 1000);
      }
    });

  for (const [action, op, what] of [
    ['pause', 'pauseRollout', 'no new device is moved until it is resumed'],
    ['resume', 'resumeRollout', 'a paused rollout goes on'],
    ['abort', 'abortRollout', 'no new device is moved; moved ones get their previous target back (unless leave)'],
  ] as const) {
    const c = rollout.command(action).description(`${action} a rollout: ${what}`).argument('<rollout-id>');
    if (action === 'abort') c.option('--reason <text>', 'why (kept with the rollout and in the audit trail)');
    c.action(async (rolloutId: string, o: { reason?: string }, cmd: Command) => {
      const { client, emit, style, now } = deps.ctx(cmd);
      const { data } = await client().call<Rollout>(op, {
        params: { rolloutId },
        ...(action === 'abort' ? { body: o.reason ? { reason: o.reason } : {} } : {}),
      });
      emit(data, () => `Rollout ${data.rolloutId} is now ${data.status}.\n${statusView(data, now, style)}`);
    });
  }
}

interface CreateOptions {
  selector?: string;
  devices?: string;
  targetFile?: string;
  job?: string;
  jobParams?: string;
  jobTimeout?: string;
  canary: string;
  rate: number;
  increase?: number;
  abortFailurePercent?: number;
  abortFailureCount?: number;
  minFinished?: number;
  onAbort?: 'rollback' | 'leave';
  deviceTimeout?: string;
  description?: string;
}

/** The request body from the options; anything unreadable is a usage error (nothing is sent). */
export function createBody(o: CreateOptions): Record<string, unknown> {
  if (!o.selector === !o.devices) throw usageError('give exactly one of --selector and --devices');
  if (!o.targetFile === !o.job) throw usageError('give exactly one of --target-file and --job');
  if (!o.job && (o.jobParams !== undefined || o.jobTimeout !== undefined))
    throw usageError('--job-params and --job-timeout go with --job');
  if (o.abortFailurePercent === undefined && o.abortFailureCount === undefined)
    throw usageError('give --abort-failure-percent and/or --abort-failure-count');
  const canary = /^\d+(\.\d+)?%$/.test(o.canary)
    ? { percent: Number(o.canary.slice(0, -1)) }
    : /^\d+$/.test(o.canary)
      ? { count: Number(o.canary) }
      : undefined;
  if (!canary) throw usageError(`--canary: '${o.canary}' is neither a count (3) nor a percentage (5%)`);
  let timeout: number | undefined;
  if (o.deviceTimeout !== undefined) {
    timeout = parseDuration(o.deviceTimeout);
    if (timeout === undefined) throw usageError(`--device-timeout: cannot read '${o.deviceTimeout}' as a duration`);
  }
  return {
    ...(o.selector ? { selector: parseSelector(o.selector) } : {}),
    ...(o.devices
      ? {
          deviceIds: o.devices
            .split(',')
            .map((d) => d.trim())
            .filter(Boolean),
        }
      : {}),
    ...(o.targetFile ? { target: readTarget(o.targetFile) } : {}),
    ...(o.job ? { job: jobOf(o) } : {}),
    canary,
    waves: { perMinute: o.rate, ...(o.increase !== undefined ? { factor: o.increase } : {}) },
    abortCriteria: {
      ...(o.abortFailurePercent !== undefined ? { failurePercent: o.abortFailurePercent } : {}),
      ...(o.abortFailureCount !== undefined ? { failureCount: o.abortFailureCount } : {}),
      ...(o.minFinished !== undefined ? { minFinished: o.minFinished } : {}),
    },
    ...(o.onAbort ? { onAbort: o.onAbort } : {}),
    ...(timeout !== undefined ? { deviceTimeoutSeconds: timeout } : {}),
    ...(o.description ? { description: o.description } : {}),
  };
}

/** `site=north,role=pump` → { site: 'north', role: 'pump' }. */
export function parseSelector(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw usageError(`--selector: '${part}' is not label=value`);
    const key = part.slice(0, eq).trim();
    if (key in out) throw usageError(`--selector names '${key}' twice`);
    out[key] = part.slice(eq + 1).trim();
  }
  if (!Object.keys(out).length) throw usageError('--selector is empty');
  return out;
}

function jobOf(o: CreateOptions): Record<string, unknown> {
  let params: unknown = {};
  if (o.jobParams !== undefined) {
    try {
      params = JSON.parse(o.jobParams);
    } catch (err) {
      throw usageError(`--job-params is not valid JSON: ${(err as Error).message}`);
    }
    if (!params || typeof params !== 'object' || Array.isArray(params))
      throw usageError('--job-params must be a JSON object, e.g. {"service":"web"}');
  }
  let timeout: number | undefined;
  if (o.jobTimeout !== undefined) {
    timeout = parseDuration(o.jobTimeout);
    if (timeout === undefined) throw usageError(`--job-timeout: cannot read '${o.jobTimeout}' as a duration`);
  }
  return { type: o.job, params, ...(timeout !== undefined ? { inProgressTimeoutSeconds: timeout } : {}) };
}

function readTarget(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw usageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    // A file saved from `fleetmedic device` / GET target holds the document ({version, target}): take its target.
    return v && typeof v === 'object' && typeof v.version === 'string' && v.target ? v.target : v;
  } catch (err) {
    throw usageError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

function whole(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive whole number`);
  return n;
}
function percent(v: string, name: string): number {
  const n = Number(v.replace(/%$/, ''));
  if (!Number.isFinite(n) || n <= 0 || n > 100)
    throw new InvalidArgumentError(`${name} must be a percentage in (0, 100]`);
  return n;
}
function factor(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 1 || n > 10)
    throw new InvalidArgumentError('--increase must be a number from 1 to 10');
  return n;
}

// ---------------------------------------------------------------- views

const STATUS_PAINT = {
  active: 'green',
  paused: 'yellow',
  'rolling-back': 'red',
  aborted: 'red',
  completed: 'green',
} as const;

export function progressBar(r: Rollout, width = 30): string {
  const t = r.totals;
  const done = t.succeeded + t.failed + t.skipped;
  const share = r.deviceCount ? done / r.deviceCount : 0;
  const filled = Math.round(share * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor(share * 100)}%`;
}

/** "failures 20% (limit 50%, judged after 2 finished) · failed 1 (limit 2)" */
export function closenessLine(c: Closeness, minFinished: number, style: Style): string {
  const parts: string[] = [];
  if (c.failurePercent) {
    const { value, limit, judged } = c.failurePercent;
    const text = `failures ${value}% of finished (limit ${limit}%${judged ? '' : `, judged after ${minFinished} finished`})`;
    parts.push(judged && value >= limit ? paint(text, 'red', style) : value > 0 ? paint(text, 'yellow', style) : text);
  }
  if (c.failureCount) {
    const { value, limit } = c.failureCount;
    const text = `failed ${value} (limit ${limit})`;
    parts.push(value >= limit ? paint(text, 'red', style) : value > 0 ? paint(text, 'yellow', style) : text);
  }
  return parts.join(' · ');
}

export function statusView(r: Rollout, now: number, style: Style): string {
  const t = r.totals;
  const out = [
    `${paint(`Rollout ${r.rolloutId}`, 'bold', style)}  ${paint(r.status, STATUS_PAINT[r.status], style)}${
      r.description ? `  — ${r.description}` : ''
    }`,
    `${r.job ? `job ${r.job.type} ${JSON.stringify(r.job.params)}` : `target ${r.targetVersion}`} · ${r.deviceCount} devices${
      r.selector
        ? ` · selector ${Object.entries(r.selector)
            .map(([k, v]) => `${k}=${v}`)
            .join(',')}`
        : ''
    } · ${r.waves.perMinute}/min${r.waves.factor > 1 ? ` ×${r.waves.factor}` : ''} · on abort: ${r.onAbort} · created ${relativeTime(r.createdAt, now)} by ${r.createdBy}`,
    `${progressBar(r)}  ${t.succeeded} succeeded, ${t.failed} failed, ${t.inProgress} in progress, ${t.pending} pending, ${t.skipped} skipped`,
    '',
    table(
      ['STAGE', 'DEVICES', 'SUCCEEDED', 'FAILED', 'IN PROGRESS', 'PENDING', 'SKIPPED', 'STARTED', 'ABORT CRITERIA'],
      r.stages.map((s) => [
        s.name,
        String(s.devices),
        String(s.counts.succeeded),
        s.counts.failed ? paint(String(s.counts.failed), 'red', style) : '0',
        String(s.counts.inProgress),
        String(s.counts.pending),
        String(s.counts.skipped),
        s.startedAt ? relativeTime(s.startedAt, now) : '-',
        s.startedAt ? closenessLine(s.criteria, r.abortCriteria.minFinished, style) : '-',
      ]),
      style,
    ),
    '',
    `Abort criteria, whole rollout: ${closenessLine(r.criteria, r.abortCriteria.minFinished, style) || 'none'}`,
  ];
  if (r.abort) {
    const a = r.abort;
    out.push(
      paint(
        `Aborted ${relativeTime(a.at, now)} by ${a.by === 'operator' ? 'an operator' : `criterion ${a.criterion} in ${a.scope}`}: ${a.detail}`,
        'red',
        style,
      ),
    );
    for (const f of a.failures ?? [])
      out.push(
        `  ${f.cause}: ${f.count} device(s), e.g. ${f.sample.map((d) => `${d.deviceId}${d.detail ? ` (${d.detail})` : ''}`).join(', ')}`,
      );
  }
  if (r.finishedAt) out.push(`Finished ${relativeTime(r.finishedAt, now)}.`);
  out.push(paint('Counts are the controller’s, updated every minute.', 'dim', style));
  return out.join('\n');
}

export function listView(data: z.output<typeof RolloutList>, now: number, style: Style): string {
  if (!data.rollouts.length) return 'No rollouts.';
  const rows = data.rollouts.map((r) => [
    r.rolloutId,
    paint(r.status, STATUS_PAINT[r.status], style),
    String(r.deviceCount),
    `${r.totals.succeeded}/${r.totals.failed}/${r.totals.inProgress}/${r.totals.pending}/${r.totals.skipped}`,
    relativeTime(r.createdAt, now),
    r.description ?? '',
  ]);
  const out = table(['ROLLOUT', 'STATUS', 'DEVICES', 'OK/FAIL/RUN/PEND/SKIP', 'CREATED', 'DESCRIPTION'], rows, style);
  return data.nextToken ? `${out}\nMore: --next-token ${data.nextToken}` : out;
}
