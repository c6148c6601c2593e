/**
 * Recovery statistics, pure: every recovery attempt counted by strategy and outcome in hourly buckets, and the
 * success rates over 1 h / 24 h / 7 d computed from them (docs/architecture.md, "Recovery statistics").
 *
 * Strategies: what the agent tries on an unhealthy service (restart, recreate, re-pull), and the cloud's job failure
 * policies (RETRY, SKIP, MANUAL, ESCALATE). Outcomes: an agent action succeeded when the re-check after it found the
 * service healthy; a RETRY succeeded when the retried attempt did; SKIP, MANUAL and ESCALATE give up on automation
 * for that job, so each counts as a failed attempt of its strategy.
 */
import { AGENT_RECOVERY_STRATEGIES, type AgentRecoveries } from '../contract/report.js';

export const CLOUD_RECOVERY_STRATEGIES = ['RETRY', 'SKIP', 'MANUAL', 'ESCALATE'] as const;
export const RECOVERY_STRATEGIES = [...AGENT_RECOVERY_STRATEGIES, ...CLOUD_RECOVERY_STRATEGIES] as const;
export type RecoveryStrategy = (typeof RECOVERY_STRATEGIES)[number];
export type RecoveryOutcome = 'succeeded' | 'failed';
export const RECOVERY_OUTCOMES: readonly RecoveryOutcome[] = ['succeeded', 'failed'];

/** Counter name → count; the counter names are the bucket items' attribute names (`restart_succeeded`...). */
export type RecoveryCounts = Record<string, number>;
export const counterName = (strategy: RecoveryStrategy, outcome: RecoveryOutcome) => `${strategy}_${outcome}`;

/**
 * What the agent's cumulative counters add since the stored ones. Another epoch (the agent's counting restarted)
 * counts from zero; a counter that went down without a new epoch adds nothing rather than subtracting.
 */
export function agentRecoveryDelta(
  previous: AgentRecoveries | undefined,
  next: AgentRecoveries | undefined,
): RecoveryCounts {
  const out: RecoveryCounts = {};
  if (!next) return out;
  const base = previous && previous.epoch === next.epoch ? previous.counts : [];
  for (const c of next.counts) {
    const before = base.find((b) => b.strategy === c.strategy);
    for (const outcome of RECOVERY_OUTCOMES) {
      const d = c[outcome] - (before?.[outcome] ?? 0);
      if (d > 0) out[counterName(c.strategy, outcome)] = d;
    }
  }
  return out;
}

const HOUR_MS = 3_600_000;
/** The hourly bucket of an instant: `2026-01-01T10` (UTC). */
export const hourBucket = (ms: number) => new Date(ms).toISOString().slice(0, 13);

export const STATS_WINDOWS = { '1h': HOUR_MS, '24h': 24 * HOUR_MS, '7d': 7 * 24 * HOUR_MS } as const;
export const MAX_STATS_WINDOW_MS = STATS_WINDOWS['7d'];

/**
 * A window is made of whole hourly buckets: the one `now` is in and those back to the hour `windowMs` ago, so a
 * 1 h window at 10:05 covers 09:00–10:05. It never misses an attempt in the span, and may include up to an hour more.
 */
export const firstBucketOf = (now: number, windowMs: number) => hourBucket(now - windowMs);

export interface RecoveryBucket {
  hour: string;
  counts: RecoveryCounts;
}
export interface StrategyStats {
  strategy: RecoveryStrategy | 'all';
  succeeded: number;
  failed: number;
  attempts: number;
  /** succeeded / attempts; null without attempts. */
  successRate: number | null;
}
export interface WindowStats {
  window: string;
  /** Start of the first bucket included. */
  since: string;
  strategies: StrategyStats[];
  total: StrategyStats;
}

function stats(strategy: StrategyStats['strategy'], succeeded: number, failed: number): StrategyStats {
  const attempts = succeeded + failed;
  return { strategy, succeeded, failed, attempts, successRate: attempts ? succeeded / attempts : null };
}

/** Per strategy (only those with attempts) and overall, over the buckets of the window. */
export function windowStats(buckets: RecoveryBucket[], now: number, window: string, windowMs: number): WindowStats {
  const first = firstBucketOf(now, windowMs);
  const sums = new Map<string, number>();
  for (const b of buckets) {
    if (b.hour < first) continue;
    for (const [k, v] of Object.entries(b.counts)) sums.set(k, (sums.get(k) ?? 0) + Number(v));
  }
  const strategies = RECOVERY_STRATEGIES.map((s) =>
    stats(s, sums.get(counterName(s, 'succeeded')) ?? 0, sums.get(counterName(s, 'failed')) ?? 0),
  ).filter((s) => s.attempts > 0);
  const total = stats(
    'all',
    strategies.reduce((n, s) => n + s.succeeded, 0),
    strategies.reduce((n, s) => n + s.failed, 0),
  );
  return { window, since: `${first}:00:00.000Z`, strategies, total };
}

export interface RecoveryRatePolicy {
  /** Below this 24 h success rate the RecoverySuccessRateLow alert fires… */
  threshold: number;
  /** …when at least this many attempts were made in the 24 h (fewer say too little to page anyone). */
  minAttempts: number;
}
export const DEFAULT_RECOVERY_RATE_POLICY: RecoveryRatePolicy = { threshold: 0.95, minAttempts: 20 };

/** firing: below the threshold with enough attempts; ok: at or above it, or too few attempts to tell. */
export function recoveryRateVerdict(total: StrategyStats, policy: RecoveryRatePolicy): 'firing' | 'ok' {
  return total.attempts >= policy.minAttempts && total.successRate !== null && total.successRate < policy.threshold
    ? 'firing'
    : 'ok';
}
