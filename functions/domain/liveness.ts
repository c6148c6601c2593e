/**
 * Liveness by construction: the numbers that decide whether a device that syncs on time can ever be marked
 * offline are derived from each other here, and a configuration that contradicts itself is refused (at Lambda
 * start through functions/lib/config.ts and at `cdk synth` through cdk/lib/stage-config.ts), naming its keys.
 *
 * The rule (docs/architecture.md, "Liveness"): every accepted sync or report stores the device's sign of life
 * (one small item, no coalescing), and the agent waits at most `heartbeat × (1 + SYNC_JITTER)` between syncs. So
 * the stored sign of life is never older than that while the device is up, and a cutoff of at least
 * `heartbeat × OFFLINE_FACTOR_MIN` (one interval, its jitter, and room for latency and one quick retry) cannot
 * catch a device that is on time. A device that stops is marked offline within `offlineAfter + evaluator period`.
 * Pure: no I/O.
 */

/** The agent spreads each wait by up to ±10 % so a fleet restarted together does not sync in lock-step. */
export const SYNC_JITTER = 0.1;
/** offlineAfter ≥ heartbeat × this: the interval (×1.1 with jitter) plus 40 % for latency and one retry. */
export const OFFLINE_FACTOR_MIN = 1.5;
/** The health evaluator's schedule (cdk/lib/health-evaluation.ts). */
export const EVALUATOR_PERIOD_SECONDS = 60;

export interface LivenessSettings {
  /** HEARTBEAT_SECONDS: the idle sync interval the server hands out (the longest wait between syncs). */
  heartbeatSeconds: number;
  /** OFFLINE_AFTER_SECONDS: a device whose last sign of life is older than this is offline. */
  offlineAfterSeconds: number;
  /** ACTIVE_SYNC_SECONDS: the short interval while a device has work or was just commanded. */
  activeSyncSeconds: number;
  /** ACTIVE_WINDOW_SECONDS: how long the short interval lasts after the last job activity. */
  activeWindowSeconds: number;
}

export const DEFAULT_HEARTBEAT_SECONDS = 60;
export const DEFAULT_ACTIVE_SYNC_SECONDS = 2;
export const DEFAULT_ACTIVE_WINDOW_SECONDS = 60;

/** The default cutoff for a heartbeat: the smallest safe one (detection as fast as liveness allows). */
export const defaultOfflineAfterSeconds = (heartbeatSeconds: number) =>
  Math.ceil(heartbeatSeconds * OFFLINE_FACTOR_MIN);

export const DEFAULT_LIVENESS: LivenessSettings = {
  heartbeatSeconds: DEFAULT_HEARTBEAT_SECONDS,
  offlineAfterSeconds: defaultOfflineAfterSeconds(DEFAULT_HEARTBEAT_SECONDS),
  activeSyncSeconds: DEFAULT_ACTIVE_SYNC_SECONDS,
  activeWindowSeconds: DEFAULT_ACTIVE_WINDOW_SECONDS,
};

/** Key names as the caller spells them (env for Lambda, context for CDK), so the message names what to fix. */
export type LivenessKeyNames = Record<keyof LivenessSettings, string>;
export const ENV_KEYS: LivenessKeyNames = {
  heartbeatSeconds: 'HEARTBEAT_SECONDS',
  offlineAfterSeconds: 'OFFLINE_AFTER_SECONDS',
  activeSyncSeconds: 'ACTIVE_SYNC_SECONDS',
  activeWindowSeconds: 'ACTIVE_WINDOW_SECONDS',
};

/** Every contradiction in the settings, each naming the keys involved; empty when they are consistent. */
export function livenessProblems(s: LivenessSettings, keys: LivenessKeyNames = ENV_KEYS): string[] {
  const problems: string[] = [];
  for (const k of Object.keys(keys) as (keyof LivenessSettings)[]) {
    if (!Number.isFinite(s[k]) || s[k] <= 0) problems.push(`${keys[k]}=${s[k]} must be a positive number of seconds`);
  }
  if (problems.length) return problems;
  const needed = s.heartbeatSeconds * OFFLINE_FACTOR_MIN;
  if (s.offlineAfterSeconds < needed) {
    problems.push(
      `${keys.offlineAfterSeconds}=${s.offlineAfterSeconds} is shorter than ${OFFLINE_FACTOR_MIN} × ${keys.heartbeatSeconds}=${s.heartbeatSeconds} (${needed} s): ` +
        'a device syncing on time could be marked offline',
    );
  }
  if (s.activeSyncSeconds > s.heartbeatSeconds) {
    problems.push(
      `${keys.activeSyncSeconds}=${s.activeSyncSeconds} is longer than ${keys.heartbeatSeconds}=${s.heartbeatSeconds}: the short interval must be the shorter one`,
    );
  }
  return problems;
}

export function assertLiveness(s: LivenessSettings, keys: LivenessKeyNames = ENV_KEYS): LivenessSettings {
  const problems = livenessProblems(s, keys);
  if (problems.length) throw new Error(`configuration error: ${problems.join('; ')}`);
  return s;
}

/** Worst case from a device's last sign of life to its `device.offline` (the documented detection bound). */
export const detectionBoundSeconds = (s: Pick<LivenessSettings, 'offlineAfterSeconds'>) =>
  s.offlineAfterSeconds + EVALUATOR_PERIOD_SECONDS;

/**
 * A device whose agent closed its push connection cleanly (it is stopping: close code 1000, not a reconnect) and
 * that has been silent since is offline after this grace instead of `offlineAfter`: a restarting agent syncs within
 * seconds of starting, so half a minute tells a restart from a device that went away.
 */
export const DISCONNECT_GRACE_SECONDS = 30;

/** The grace actually applied: never longer than the plain cutoff (a clean goodbye never makes detection slower). */
export const disconnectGraceSeconds = (s: Pick<LivenessSettings, 'offlineAfterSeconds'>) =>
  Math.min(DISCONNECT_GRACE_SECONDS, s.offlineAfterSeconds);

/** Devices that disconnected cleanly before this instant and stayed silent are offline. */
export const disconnectedCutoff = (now: number, s: Pick<LivenessSettings, 'offlineAfterSeconds'>) =>
  now - disconnectGraceSeconds(s) * 1000;

/**
 * Worst case from a clean disconnect (followed by silence) to `device.offline`: the grace plus one evaluator period,
 * against `detectionBoundSeconds` for heartbeat silence alone (e.g. 30 + 60 = 90 s instead of 90 + 60 = 150 s with
 * the default 60 s heartbeat).
 */
export const disconnectDetectionBoundSeconds = (s: Pick<LivenessSettings, 'offlineAfterSeconds'>) =>
  disconnectGraceSeconds(s) + EVALUATOR_PERIOD_SECONDS;

/**
 * The interval the server wants until a device's next sync: short while it has pending jobs or its short window
 * (opened by job activity) is still running, the idle heartbeat otherwise. Bounded both ways by construction.
 */
export function nextSyncSeconds(
  a: { pendingJobs: number; activeUntilEpoch?: number | undefined; now: number },
  s: LivenessSettings,
): number {
  if (a.pendingJobs > 0) return s.activeSyncSeconds;
  if (a.activeUntilEpoch !== undefined && a.activeUntilEpoch > a.now) return s.activeSyncSeconds;
  return s.heartbeatSeconds;
}

/** Until when job activity seen now keeps a device on the short interval. */
export const activeUntil = (now: number, s: Pick<LivenessSettings, 'activeWindowSeconds'>) =>
  now + s.activeWindowSeconds * 1000;
