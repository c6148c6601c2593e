/**
 * Backoff state across agent restarts. Monotonic instants mean nothing in another process, so each entry is
 * stored as the delay still REMAINING at save time, plus the wall time of the save. On load:
 *   remaining' = remaining − (wallNow − savedAt), clamped to [0, the policy's longest wait]
 * - wall clock went backwards (elapsed < 0): count zero elapsed, never wait longer than was left;
 * - wall clock jumped far forward: the retry is simply due; it happens once, then the schedule continues from
 *   the stored attempt count, so a jump cannot storm retries;
 * - a corrupt or absurd value cannot stall a step beyond the quarantine interval.
 */
import * as z from 'zod/mini';
import { ServiceErrorType } from '#contract/report.js';
import type { BackoffEntry, RetryManager } from './manager.js';
import type { Clock } from '../clock.js';

export const PersistedBackoff = z.object({
  savedAtWall: z.number(),
  entries: z.array(
    z.object({
      key: z.string(),
      services: z.array(z.string()),
      action: z.enum([
        'pullImage',
        'createContainer',
        'startContainer',
        'stopContainer',
        'removeContainer',
        'restartContainer',
      ]),
      attempts: z.int().check(z.minimum(0)),
      errorType: ServiceErrorType,
      message: z.string(),
      permanent: z.boolean(),
      quarantined: z.boolean(),
      lastFailureWall: z.number(),
      /** null: the step succeeded since (count kept until the healthy reset). */
      remainingMs: z.nullable(z.number()),
    }),
  ),
});
export type PersistedBackoff = z.infer<typeof PersistedBackoff>;

export function snapshotBackoff(manager: RetryManager, clock: Clock): PersistedBackoff {
  const mono = clock.monoNow();
  return {
    savedAtWall: clock.wallNow(),
    entries: manager.all().map((e) => ({
      key: e.key,
      services: e.services,
      action: e.action,
      attempts: e.attempts,
      errorType: e.errorType,
      message: e.message,
      permanent: e.permanent,
      quarantined: e.quarantined,
      lastFailureWall: e.lastFailureWall,
      remainingMs: e.nextRetryMono === null ? null : Math.max(0, e.nextRetryMono - mono),
    })),
  };
}

export function restoreBackoff(manager: RetryManager, saved: PersistedBackoff, clock: Clock): void {
  const rawElapsed = clock.wallNow() - saved.savedAtWall;
  const elapsed = Number.isFinite(rawElapsed) && rawElapsed > 0 ? rawElapsed : 0;
  const mono = clock.monoNow();
  const { policy } = manager;
  const entries: BackoffEntry[] = saved.entries.map((e) => {
    const cap = e.quarantined ? policy.quarantineRetryMs : policy.maxMs;
    const remaining = e.remainingMs === null ? null : Math.min(Math.max(0, e.remainingMs - elapsed), cap);
    return {
      key: e.key,
      services: e.services,
      action: e.action,
      attempts: e.attempts,
      errorType: e.errorType,
      message: e.message,
      permanent: e.permanent,
      quarantined: e.quarantined,
      lastFailureWall: e.lastFailureWall,
      nextRetryMono: remaining === null ? null : mono + remaining,
    };
  });
  manager.load(entries);
}
