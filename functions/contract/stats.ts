/** Recovery statistics as the operator API answers them (GET /v1/stats/recoveries, `fleetmedic stats`). */
import * as z from 'zod/mini';
import { DeviceId, Timestamp } from './common.js';

export const StrategyStats = z
  .object({
    /** restart, recreate, repull (the agent's), RETRY, SKIP, MANUAL, ESCALATE (job failure policies), or `all`. */
    strategy: z.string(),
    succeeded: z.int(),
    failed: z.int(),
    attempts: z.int(),
    /** succeeded / attempts; null without attempts. */
    successRate: z.nullable(z.number()),
  })
  .register(z.globalRegistry, { id: 'StrategyStats' });

export const RecoveryStatsWindow = z
  .object({
    /** 1h, 24h, 7d, or `<n>s` for a window asked with `sinceSeconds`. */
    window: z.string(),
    /** Start of the first hourly bucket counted (a window covers whole hours: up to an hour more than asked). */
    since: Timestamp,
    /** Strategies with at least one attempt in the window. */
    strategies: z.array(StrategyStats),
    total: StrategyStats,
  })
  .register(z.globalRegistry, { id: 'RecoveryStatsWindow' });

export const RecoveryStats = z
  .object({
    /** Absent: the whole fleet. */
    deviceId: z.optional(DeviceId),
    windows: z.array(RecoveryStatsWindow),
    /** The RecoverySuccessRateLow policy (fleet-wide, over 24 h). */
    alert: z.object({ threshold: z.number(), minAttempts: z.int() }),
  })
  .register(z.globalRegistry, { id: 'RecoveryStats' });
export type RecoveryStats = z.output<typeof RecoveryStats>;

/** The longest window the counters keep (they expire after 8 days). */
export const MAX_STATS_SINCE_SECONDS = 7 * 86400;
