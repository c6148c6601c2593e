/**
 * The stage plan of a rollout: a canary (a count or a percentage of the frozen set, at least one device), then
 * waves. Wave k (k = 1, 2, ...) holds `perMinute × factor^(k−1)` devices (rounded up): a wave is one controller
 * minute's worth of devices, and it starts only when the stage before it has finished (every device succeeded,
 * failed or skipped) without breaching the abort criteria and at least a minute after the previous stage
 * started (the spacing is a setting only so the local fleet can scale it down like its other clocks:
 * ROLLOUT_STAGE_SPACING_SECONDS, functions/lib/config.ts). So the rate never exceeds `perMinute × factor^(k−1)`
 * devices a minute, and a bad target is caught by a stage before the next one touches anything.
 */

export interface CanarySpec {
  count?: number;
  percent?: number;
}
export interface WaveSpec {
  perMinute: number;
  /** ≥ 1: each successful wave multiplies the next wave's size by it. */
  factor: number;
}
export interface Stage {
  name: string;
  /** Index range [start, end) into the frozen device set. */
  start: number;
  end: number;
}

/** Beyond this many stages the plan is refused (the rollout item keeps per-stage progress). */
export const MAX_STAGES = 200;
/** Between two stage starts, at least this long (the rate is per minute): the default of the setting. */
export const STAGE_SPACING_MS = 60_000;

export function canarySize(total: number, canary: CanarySpec): number {
  if (total === 0) return 0;
  const wanted = canary.count ?? Math.ceil((total * (canary.percent ?? 0)) / 100);
  return Math.min(total, Math.max(1, wanted));
}

export function planStages(total: number, canary: CanarySpec, waves: WaveSpec): Stage[] {
  const stages: Stage[] = [];
  const c = canarySize(total, canary);
  if (c > 0) stages.push({ name: 'canary', start: 0, end: c });
  let at = c;
  let size = waves.perMinute;
  for (let k = 1; at < total; k++) {
    const n = Math.min(total - at, Math.ceil(size));
    stages.push({ name: `wave ${k}`, start: at, end: at + n });
    at += n;
    size *= waves.factor;
    if (stages.length > MAX_STAGES)
      throw new PlanTooLongError(
        `${total} devices at ${waves.perMinute}/min ×${waves.factor} need more than ${MAX_STAGES} stages: raise perMinute or factor`,
      );
  }
  return stages;
}

export class PlanTooLongError extends Error {}

/** May the next stage start now? The previous one must be finished, and spaced a minute from its start. */
export function nextStageDue(
  previousStartedAt: number | undefined,
  now: number,
  spacingMs: number = STAGE_SPACING_MS,
): boolean {
  return previousStartedAt === undefined || now - previousStartedAt >= spacingMs;
}
