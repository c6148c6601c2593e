/**
 * Per-service health bookkeeping (pure): turns single check outcomes into the contract's HealthCheckResult
 * (with consecutiveFailures) and a verdict the recovery policy acts on.
 *
 * - After a (re)start nothing counts until the startup delay is over: the verdict is `pending`.
 * - A failed check below the failure threshold is `failing` (not acted on, but reported).
 * - `failureThreshold` consecutive failures make it `unhealthy`; one pass makes it `healthy` again.
 * - A check that could not be run (`unknown`: the engine unreachable, too slow to start it, or refusing it)
 *   changes nothing: it is neither a pass nor a failure, so the failure threshold is what decides, never
 *   one exec a busy engine did not start in time.
 */
import type { HealthCheckResult } from '#contract/report.js';
import type { HealthCheckSpec } from '#contract/target-state.js';
import type { HealthVerdict } from './verdict.js';

export interface CheckOutcome {
  healthy: boolean;
  message?: string;
  durationMs: number;
  /** The check found the container not running: unhealthy at once, no threshold to wait for. */
  notRunning?: boolean;
  /** The check could not be run (neither healthy nor unhealthy): why. `healthy` is false and means nothing. */
  unknown?: 'engine-unreachable' | 'engine-slow' | 'engine-error';
}

export interface HealthTrack {
  spec: HealthCheckSpec;
  consecutiveFailures: number;
  verdict: HealthVerdict;
  /** Monotonic ms the verdict was reached (the end of the check that produced it). */
  verdictAt: number;
  /** Monotonic ms before which checks do not run (startup delay after a (re)start). */
  graceUntil: number;
  last: HealthCheckResult | null;
  /** The last check found the container not running. */
  notRunning: boolean;
  /** Checks in a row that could not be run (reset by any real result). */
  unknownInARow: number;
}

export function newTrack(spec: HealthCheckSpec, startedAt: number): HealthTrack {
  return {
    spec,
    consecutiveFailures: 0,
    verdict: 'pending',
    verdictAt: startedAt,
    graceUntil: startedAt + spec.startupDelaySeconds * 1000,
    last: null,
    notRunning: false,
    unknownInARow: 0,
  };
}

/** The container was (re)started at `at`: forget the old verdict, wait out the startup delay again. */
export function restarted(track: HealthTrack, at: number): void {
  track.consecutiveFailures = 0;
  track.notRunning = false;
  track.verdict = 'pending';
  track.verdictAt = at;
  track.graceUntil = at + track.spec.startupDelaySeconds * 1000;
  track.unknownInARow = 0;
}

/** Books one outcome; null when the check could not be run (the track is left as it was). */
export function recordOutcome(
  track: HealthTrack,
  outcome: CheckOutcome,
  monoAt: number,
  wallIso: string,
): HealthCheckResult | null {
  if (outcome.unknown) {
    track.unknownInARow++;
    return null;
  }
  track.unknownInARow = 0;
  track.consecutiveFailures = outcome.healthy ? 0 : track.consecutiveFailures + 1;
  track.verdict = outcome.healthy
    ? 'healthy'
    : outcome.notRunning || track.consecutiveFailures >= track.spec.failureThreshold
      ? 'unhealthy'
      : 'failing';
  track.verdictAt = monoAt;
  track.notRunning = !outcome.healthy && outcome.notRunning === true;
  const result: HealthCheckResult = {
    healthy: outcome.healthy,
    kind: track.spec.kind,
    checkedAt: wallIso,
    durationMs: Math.max(0, Math.round(outcome.durationMs)),
    consecutiveFailures: track.consecutiveFailures,
  };
  if (outcome.message) result.message = outcome.message.slice(0, 1024);
  track.last = result;
  return result;
}

/** Same check, same schedule? (a target update that only touched other fields keeps the track) */
export function sameSpec(a: HealthCheckSpec, b: HealthCheckSpec): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
