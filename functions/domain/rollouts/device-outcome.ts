/**
 * Whether a device a rollout moved has succeeded, failed, or is still in progress, from what its agent reports
 * (the merged STATE: the target version it runs, a rollback it made, its health).
 *
 * The agent puts a new target on trial for the target's `rollbackWindowSeconds`: it promotes it when every
 * service passes its checks in that window, or rolls back and reports `rolledBackFrom`. So a device counts as
 * succeeded once it reports the rollout's version, runs the target's images, healthy, with the window over since
 * it was moved; it fails when it rolled back from that version, still is not healthy on it after the window, or
 * has not reported the version within the rollout's device timeout.
 *
 * The images, because the version alone says only that the agent took the target: while it pulls the new images
 * its reports still carry the old services (healthy), and its window started when it took the target, after the
 * move. Judged on the version alone, a device still on trial (and about to roll back) would count as succeeded.
 */

export type FailureCause = 'rolled-back' | 'unhealthy' | 'timed-out' | 'job-failed' | 'job-rejected' | 'job-canceled';

export type DeviceOutcome =
  | { kind: 'in-progress' }
  | { kind: 'succeeded' }
  /** `reason`: the error its services report, the same text on every device with the same problem (grouping). */
  | { kind: 'failed'; cause: FailureCause; detail: string; reason?: string };

export interface ReportedState {
  targetVersion?: string;
  rolledBackFrom?: string;
  health?: string;
  services?: Record<string, { image?: string; error?: { type?: string } | null } | undefined>;
}

/** The first service error the device reports, as `<error type>: <service> (<image>)`, without device specifics. */
export function failureReason(state: ReportedState | undefined): string | undefined {
  for (const [name, s] of Object.entries(state?.services ?? {}).sort(([a], [b]) => a.localeCompare(b)))
    if (s?.error?.type) return `${s.error.type}: ${name}${s.image ? ` (${s.image})` : ''}`;
  return undefined;
}

export interface JudgeInput {
  version: string;
  movedAt: number;
  now: number;
  /** The target's health window (the agent's rollback window). */
  windowMs: number;
  /** The image of each service of the target: the device must report running exactly these. */
  images: Readonly<Record<string, string>>;
  /** No verdict this long after the move: the device failed (timed out). */
  timeoutMs: number;
  state?: ReportedState;
}

export function judgeDevice(i: JudgeInput): DeviceOutcome {
  const verdict = judge(i);
  if (verdict.kind !== 'failed') return verdict;
  const reason = failureReason(i.state);
  return reason ? { ...verdict, reason } : verdict;
}

function judge(i: JudgeInput): DeviceOutcome {
  const s = i.state;
  const elapsed = i.now - i.movedAt;
  if (s?.rolledBackFrom === i.version)
    return { kind: 'failed', cause: 'rolled-back', detail: `the agent rolled back from ${i.version}` };
  if (s?.targetVersion === i.version && elapsed >= i.windowMs) {
    if (s.health === 'healthy' && runsImages(s, i.images)) return { kind: 'succeeded' };
    if (elapsed >= i.timeoutMs)
      return {
        kind: 'failed',
        cause: 'unhealthy',
        detail: runsImages(s, i.images)
          ? `runs ${i.version} but reports ${s.health ?? 'no health'}`
          : `took ${i.version} but does not run its images`,
      };
    return { kind: 'in-progress' };
  }
  if (elapsed >= i.timeoutMs)
    return {
      kind: 'failed',
      cause: 'timed-out',
      detail: s?.targetVersion
        ? `still reports ${s.targetVersion} ${Math.round(elapsed / 1000)} s after the move`
        : `no report ${Math.round(elapsed / 1000)} s after the move`,
    };
  return { kind: 'in-progress' };
}

/** Every service of the target is reported, on the target's image. */
function runsImages(s: ReportedState, images: Readonly<Record<string, string>>): boolean {
  return Object.entries(images).every(([name, image]) => s.services?.[name]?.image === image);
}

/**
 * A job rollout's device, from its job: succeeded when the job SUCCEEDED, failed when it ended otherwise (FAILED,
 * TIMED_OUT, REJECTED, CANCELED: its retry policy is spent by then), or still QUEUED/IN_PROGRESS past the device
 * timeout (an offline device never takes its job).
 */
export function judgeJob(i: {
  status?: string;
  movedAt: number;
  now: number;
  timeoutMs: number;
  lastError?: string;
}): DeviceOutcome {
  const reason = i.lastError ? { reason: i.lastError.slice(0, 200) } : {};
  switch (i.status) {
    case 'SUCCEEDED':
      return { kind: 'succeeded' };
    case 'FAILED':
      return { kind: 'failed', cause: 'job-failed', detail: 'its job FAILED', ...reason };
    case 'TIMED_OUT':
      return { kind: 'failed', cause: 'timed-out', detail: 'its job TIMED_OUT', ...reason };
    case 'REJECTED':
      return { kind: 'failed', cause: 'job-rejected', detail: 'its job was REJECTED', ...reason };
    case 'CANCELED':
      return { kind: 'failed', cause: 'job-canceled', detail: 'its job was CANCELED', ...reason };
  }
  if (i.now - i.movedAt >= i.timeoutMs)
    return {
      kind: 'failed',
      cause: 'timed-out',
      detail: `its job still ${i.status ?? 'missing'} ${Math.round((i.now - i.movedAt) / 1000)} s after it was enqueued`,
    };
  return { kind: 'in-progress' };
}

/** Why a device was left out of its stage (counted, never touched). */
export type SkipReason = 'circuit-open' | 'maintenance' | 'target-changed';

export function skipReason(input: { circuitState?: string; deviceMarkerActive: boolean }): SkipReason | undefined {
  if (input.circuitState === 'open') return 'circuit-open';
  if (input.deviceMarkerActive) return 'maintenance';
  return undefined;
}
