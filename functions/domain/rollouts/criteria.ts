/**
 * Abort criteria, evaluated on every controller run for each started stage and for the rollout as a whole:
 * failures as a count and/or a percentage of finished devices, once at least `minFinished` devices finished
 * (a stage smaller than that is judged once all of it finished, so a one-device canary can abort).
 * Skipped devices (open circuit, maintenance marker) are neither failures nor finished.
 */

export interface AbortCriteria {
  /** Abort when failed / (succeeded + failed) reaches this percentage. */
  failurePercent?: number;
  /** Abort when this many devices failed. */
  failureCount?: number;
  /** Judge a percentage only after this many devices finished. */
  minFinished: number;
}

export interface Counts {
  pending: number;
  inProgress: number;
  succeeded: number;
  failed: number;
  skipped: number;
}

export const emptyCounts = (): Counts => ({ pending: 0, inProgress: 0, succeeded: 0, failed: 0, skipped: 0 });
export const finished = (c: Counts) => c.succeeded + c.failed;
export const total = (c: Counts) => c.pending + c.inProgress + c.succeeded + c.failed + c.skipped;
export const addCounts = (a: Counts, b: Counts): Counts => ({
  pending: a.pending + b.pending,
  inProgress: a.inProgress + b.inProgress,
  succeeded: a.succeeded + b.succeeded,
  failed: a.failed + b.failed,
  skipped: a.skipped + b.skipped,
});

export interface Breach {
  criterion: 'failurePercent' | 'failureCount';
  /** Where it was met: a stage's name or `rollout`. */
  scope: string;
  /** e.g. "3 of 5 finished devices failed (60%), limit 20% after 5". */
  detail: string;
  /** The criterion's value when it was met (failed devices, or their percentage of the finished) and its limit. */
  value: number;
  limit: number;
}

/** How close each criterion is, for the progress view (ratio 1 = met). */
export interface Closeness {
  failurePercent?: { value: number; limit: number; judged: boolean };
  failureCount?: { value: number; limit: number };
}

export function closeness(c: Counts, criteria: AbortCriteria, scopeSize = Number.POSITIVE_INFINITY): Closeness {
  const out: Closeness = {};
  const done = finished(c);
  if (criteria.failurePercent !== undefined)
    out.failurePercent = {
      value: done ? round1((100 * c.failed) / done) : 0,
      limit: criteria.failurePercent,
      judged: done >= Math.min(criteria.minFinished, scopeSize - c.skipped) && done > 0,
    };
  if (criteria.failureCount !== undefined) out.failureCount = { value: c.failed, limit: criteria.failureCount };
  return out;
}

/** The first criterion met for these counts, or undefined. `scopeSize`: devices in the stage (or rollout). */
export function breach(c: Counts, criteria: AbortCriteria, scope: string, scopeSize: number): Breach | undefined {
  const near = closeness(c, criteria, scopeSize);
  if (near.failureCount && near.failureCount.value >= near.failureCount.limit)
    return {
      criterion: 'failureCount',
      scope,
      detail: `${c.failed} devices failed, limit ${criteria.failureCount}`,
      value: near.failureCount.value,
      limit: near.failureCount.limit,
    };
  if (near.failurePercent?.judged && (100 * c.failed) / finished(c) >= near.failurePercent.limit)
    return {
      criterion: 'failurePercent',
      scope,
      detail: `${c.failed} of ${finished(c)} finished devices failed (${near.failurePercent.value}%), limit ${criteria.failurePercent}% after ${criteria.minFinished}`,
      value: near.failurePercent.value,
      limit: near.failurePercent.limit,
    };
  return undefined;
}

const round1 = (n: number) => Math.round(n * 10) / 10;
