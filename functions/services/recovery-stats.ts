/**
 * Recovery statistics (docs/architecture.md, "Recovery statistics"): counting attempts as they happen, reading the
 * success rates back, and the RecoverySuccessRateLow alert.
 *
 * Counting: the agent's attempts arrive as cumulative counters in its reports; what they grew by since the stored
 * state is added once that state is stored (a duplicate or stale report stores nothing, so adds nothing). The cloud's
 * job failure policies are counted where the job's outcome is stored (services/job-failures.ts, the job routes).
 * A crash between the stored change and the ADD loses that count (never doubles it), like the events.
 *
 * The alert is evaluated by the health evaluator's run (every minute) rather than a CloudWatch metric alarm: it then
 * reads the very counters `fleetmedic stats` shows (8 small Queries, no metric emitted per device), works the same on
 * the local fleet, and carries the per-strategy breakdown into the message.
 */
import { readRecoveryBuckets, addRecoveryCounts } from '../adapters/recovery-stats-repo.js';
import { dedupeKeyFor } from '../domain/alerting/event.js';
import {
  agentRecoveryDelta,
  counterName,
  firstBucketOf,
  MAX_STATS_WINDOW_MS,
  recoveryRateVerdict,
  STATS_WINDOWS,
  windowStats,
  type RecoveryOutcome,
  type RecoveryRatePolicy,
  type RecoveryStrategy,
  type WindowStats,
} from '../domain/recovery-stats.js';
import type { StoredDeviceState } from '../domain/report-merge.js';
import { config } from '../lib/config.js';
import { logger } from '../lib/observability.js';
import { raiseAlert, resolveAlert } from './alerts.js';

/** After a report's state change is stored: what the agent's counters grew by. */
export async function countAgentRecoveries(
  deviceId: string,
  previous: StoredDeviceState | undefined,
  next: StoredDeviceState,
  now: number,
): Promise<void> {
  await addRecoveryCounts(deviceId, agentRecoveryDelta(previous?.recoveries, next.recoveries), now);
}

/**
 * One cloud-side recovery attempt, once its outcome is stored. Never fails the caller: the job's own history is the
 * record of truth, the counters a summary of it.
 */
export async function countJobRecovery(
  deviceId: string,
  strategy: RecoveryStrategy,
  outcome: RecoveryOutcome,
  ctx: { now: number; correlationId?: string; jobId?: string },
): Promise<void> {
  try {
    await addRecoveryCounts(deviceId, { [counterName(strategy, outcome)]: 1 }, ctx.now);
  } catch (err) {
    logger.error('could not count a recovery attempt', {
      deviceId,
      strategy,
      outcome,
      jobId: ctx.jobId,
      correlationId: ctx.correlationId,
      error: (err as Error).message,
    });
  }
}

export interface RecoveryStatsQuery {
  deviceId?: string;
  /** One window of this length instead of the standard 1 h / 24 h / 7 d. */
  sinceSeconds?: number;
  now: number;
}

export async function recoveryStats(q: RecoveryStatsQuery): Promise<WindowStats[]> {
  const windows: [string, number][] = q.sinceSeconds
    ? [[`${q.sinceSeconds}s`, q.sinceSeconds * 1000]]
    : Object.entries(STATS_WINDOWS);
  const longest = Math.min(MAX_STATS_WINDOW_MS, Math.max(...windows.map(([, ms]) => ms)));
  const buckets = await readRecoveryBuckets({
    fromHour: firstBucketOf(q.now, longest),
    ...(q.deviceId ? { deviceId: q.deviceId } : {}),
  });
  return windows.map(([name, ms]) => windowStats(buckets, q.now, name, ms));
}

export function recoveryRatePolicy(): RecoveryRatePolicy {
  return { threshold: config.recoveryAlertThreshold, minAttempts: config.recoveryAlertMinAttempts };
}

const ALERT_KEY = dedupeKeyFor({ alertName: 'RecoverySuccessRateLow' });

/** The fleet's 24 h success rate against the policy: raise RecoverySuccessRateLow, or resolve it. */
export async function evaluateRecoveryRate(
  now: number,
  policy = recoveryRatePolicy(),
): Promise<{ verdict: 'firing' | 'ok'; stats: WindowStats }> {
  const [stats] = await recoveryStats({ now, sinceSeconds: STATS_WINDOWS['24h'] / 1000 });
  const s = { ...stats!, window: '24h' };
  const verdict = recoveryRateVerdict(s.total, policy);
  if (verdict === 'ok') {
    await resolveAlert(ALERT_KEY, { now });
    return { verdict, stats: s };
  }
  const pct = (r: number | null) => (r === null ? '-' : `${(r * 100).toFixed(1)} %`);
  await raiseAlert(
    {
      alertName: 'RecoverySuccessRateLow',
      level: 2,
      summary: `Recovery success rate ${pct(s.total.successRate)} over 24 h (${s.total.succeeded} of ${s.total.attempts} attempts), below ${pct(policy.threshold)}`,
      since: Date.parse(s.since),
      tried: s.strategies.map((x) => `${x.strategy}: ${x.succeeded}/${x.attempts} succeeded (${pct(x.successRate)})`),
      details: {
        attempts: s.total.attempts,
        succeeded: s.total.succeeded,
        failed: s.total.failed,
        threshold: policy.threshold,
        minAttempts: policy.minAttempts,
      },
    },
    { now },
  );
  return { verdict, stats: s };
}
