/**
 * What one controller run does with an active rollout, given the counts of its stages: abort (a criterion is
 * met in a started stage or over the whole rollout), start the next stage, complete, or wait.
 */
import { addCounts, breach, emptyCounts, type AbortCriteria, type Breach, type Counts } from './criteria.js';
import { nextStageDue, STAGE_SPACING_MS, type Stage } from './plan.js';

export interface StageProgress extends Stage {
  counts: Counts;
  /** Epoch ms the controller started moving its devices. */
  startedAt?: number;
}

export type Decision =
  | { kind: 'abort'; breach: Breach }
  | { kind: 'start-stage'; index: number }
  | { kind: 'complete' }
  | { kind: 'wait'; reason: string };

export function stageDone(s: StageProgress): boolean {
  return s.startedAt !== undefined && s.counts.pending === 0 && s.counts.inProgress === 0;
}

export function rolloutCounts(stages: readonly StageProgress[]): Counts {
  return stages.reduce((acc, s) => addCounts(acc, s.counts), emptyCounts());
}

/** `spacingMs`: the least time between two stage starts (a minute, scaled down only by the local fleet). */
export function decide(
  stages: readonly StageProgress[],
  criteria: AbortCriteria,
  now: number,
  spacingMs: number = STAGE_SPACING_MS,
): Decision {
  for (const s of stages) {
    if (s.startedAt === undefined) break;
    const b = breach(s.counts, criteria, s.name, s.end - s.start);
    if (b) return { kind: 'abort', breach: b };
  }
  const all = rolloutCounts(stages);
  const size = stages.length ? stages[stages.length - 1]!.end : 0;
  const whole = breach(all, criteria, 'rollout', size);
  if (whole) return { kind: 'abort', breach: whole };

  const next = stages.findIndex((s) => s.startedAt === undefined);
  if (next === -1)
    return stages.every(stageDone) ? { kind: 'complete' } : { kind: 'wait', reason: 'devices in progress' };
  const previous = stages[next - 1];
  if (previous && !stageDone(previous)) return { kind: 'wait', reason: `${previous.name} in progress` };
  if (!nextStageDue(previous?.startedAt, now, spacingMs))
    return {
      kind: 'wait',
      reason:
        spacingMs === STAGE_SPACING_MS ? 'rate: one stage a minute' : `rate: one stage every ${spacingMs / 1000} s`,
    };
  return { kind: 'start-stage', index: next };
}
