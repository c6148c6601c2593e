/**
 * Deployment rollback, pure; monotonic `now`.
 *
 * - A new target version starts an attempt. Once every service of it passes its health checks (no check:
 *   its container runs) within the target's `rollbackWindowSeconds`, it is PROMOTED to last-successful.
 * - If the window ends first, the agent ROLLS BACK to the last successful target and reports
 *   `rolledBackFrom` = the failed version until a later target succeeds. The failed version is remembered as
 *   rejected, so the same version served again (after an agent restart, no ETag) is not re-applied; a new
 *   version from the cloud is a new attempt.
 * - The rolled-back-to target already proved itself: it is not put on trial again (no rollback loops).
 * - Without a last-successful target (first deployment) there is nothing to roll back to: the attempt is
 *   marked failed and kept running; the services' own errors tell the story.
 * The window restarts when the agent restarts mid-attempt (monotonic time does not survive a restart; the
 * services restart with it anyway).
 */
import * as z from 'zod/mini';
import { TargetState } from '#contract/target-state.js';

export const RolloutRecord = z.object({ version: z.string(), target: TargetState });
export type RolloutRecord = z.output<typeof RolloutRecord>;

export const RolloutDoc = z.object({
  lastSuccessful: z.nullable(RolloutRecord),
  /** The version on trial (persisted so a restart keeps judging it). */
  attempt: z.nullable(RolloutRecord),
  rolledBackFrom: z.nullable(z.string()),
  rejected: z.array(z.string()).check(z.maxLength(20)),
  /** The version the agent runs now (attempt, last successful, or a failed first deployment). */
  current: z.nullable(z.string()),
});
export type RolloutDoc = z.output<typeof RolloutDoc>;

export const emptyRollout = (): RolloutDoc => ({
  lastSuccessful: null,
  attempt: null,
  rolledBackFrom: null,
  rejected: [],
  current: null,
});

export type IncomingDecision = 'apply' | 'already-current' | 'rejected-before';

export type RolloutVerdict =
  | { kind: 'idle' }
  | { kind: 'pending'; until: number }
  | { kind: 'promoted'; version: string }
  | { kind: 'rollback'; from: string; to: RolloutRecord }
  | { kind: 'failed-without-previous'; version: string };

export class Rollout {
  /** Monotonic start of the current attempt's window (not persisted, see above). */
  private windowStart: number | null = null;

  constructor(
    public doc: RolloutDoc,
    now: number,
  ) {
    if (doc.attempt) this.windowStart = now;
  }

  /** Should a target version the cloud serves be applied? */
  incoming(version: string): IncomingDecision {
    if (version === this.doc.current) return 'already-current';
    if (this.doc.rejected.includes(version)) return 'rejected-before';
    return 'apply';
  }

  /** A new target is being applied: it is on trial from now. */
  begin(record: RolloutRecord, now: number): void {
    this.doc = { ...this.doc, attempt: record, current: record.version, rolledBackFrom: null };
    this.windowStart = now;
  }

  /** Judges the attempt; `healthy` = every service of the attempt passes its checks right now. */
  evaluate(now: number, healthy: boolean): RolloutVerdict {
    const attempt = this.doc.attempt;
    if (!attempt || this.windowStart === null) return { kind: 'idle' };
    if (healthy) {
      this.doc = { ...this.doc, attempt: null, lastSuccessful: attempt, current: attempt.version };
      this.windowStart = null;
      return { kind: 'promoted', version: attempt.version };
    }
    const until = this.windowStart + attempt.target.rollbackWindowSeconds * 1000;
    if (now < until) return { kind: 'pending', until };
    this.windowStart = null;
    const previous = this.doc.lastSuccessful;
    if (!previous || previous.version === attempt.version) {
      this.doc = { ...this.doc, attempt: null };
      return { kind: 'failed-without-previous', version: attempt.version };
    }
    this.doc = {
      ...this.doc,
      attempt: null,
      current: previous.version,
      rolledBackFrom: attempt.version,
      rejected: [...this.doc.rejected.filter((v) => v !== attempt.version), attempt.version].slice(-20),
    };
    return { kind: 'rollback', from: attempt.version, to: previous };
  }
}
