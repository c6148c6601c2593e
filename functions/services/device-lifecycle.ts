/**
 * Device credentials and lifecycle: token rotation and decommissioning (README "Rotating a device token",
 * "Decommissioning a device"). Used by the operator routes and by the device's own renewal route.
 */
import { resolveAlert } from './alert-raising.js';
import { getDeviceRecord, retireDeviceItems, revokeDevice, rotateCredentials } from '../adapters/devices-repo.js';
import { recordEvent } from '../adapters/events.js';
import { countOutcome } from '../adapters/job-metrics.js';
import { getJob, listOpenJobsForDevice, transitionJob } from '../adapters/jobs-repo.js';
import { retireLiveness } from '../adapters/liveness-repo.js';
import type { Job } from '../contract/jobs.js';
import { dedupeKeyFor } from '../domain/alerting/event.js';
import { transition } from '../domain/job-lifecycle.js';
import { httpError } from '../http/errors.js';
import { issueDeviceToken } from '../lib/token.js';

const MAX_RACES = 5;

export interface RotateInput {
  deviceId: string;
  /** Seconds the token kept beside the new one stays valid (0: none is kept). */
  overlapSeconds: number;
  /**
   * Which token stays valid for the overlap: for an operator, the current one (the point is to retire it); for a
   * device renewing its own, the one it called with — so a device whose previous renewal answer was lost (it still
   * holds the previous token) never loses the only token it has.
   */
  keep: 'current' | 'previous';
  now: number;
}

export interface RotateResult {
  deviceId: string;
  token: string;
  rotatedAt: string;
  previousTokenValidUntil?: string;
}

/** Mint a new token; undefined when the device does not exist (or is decommissioned). */
export async function rotateDeviceToken(input: RotateInput): Promise<RotateResult | undefined> {
  const { deviceId, overlapSeconds, now } = input;
  for (let race = 0; race < MAX_RACES; race++) {
    const { meta } = await getDeviceRecord(deviceId);
    if (!meta) return undefined;
    const issued = issueDeviceToken(deviceId);
    const expiresAt = Math.floor(now / 1000) + overlapSeconds;
    let kept: { tokenSalt: string; tokenHash: string } | undefined;
    if (overlapSeconds > 0) {
      if (input.keep === 'current') kept = { tokenSalt: meta.tokenSalt, tokenHash: meta.tokenHash };
      else if (meta.previousTokenSalt && meta.previousTokenHash)
        kept = { tokenSalt: meta.previousTokenSalt, tokenHash: meta.previousTokenHash };
    }
    const previous = kept ? { ...kept, expiresAt } : null;
    if (
      await rotateCredentials(
        deviceId,
        meta.tokenHash,
        { tokenSalt: issued.tokenSalt, tokenHash: issued.tokenHash },
        previous,
        now,
      )
    ) {
      const result: RotateResult = { deviceId, token: issued.token, rotatedAt: new Date(now).toISOString() };
      if (previous) result.previousTokenValidUntil = new Date(expiresAt * 1000).toISOString();
      return result;
    }
  }
  throw httpError('version_conflict', 'The device token kept changing; try again');
}

export interface DecommissionResult {
  deviceId: string;
  decommissionedAt: string;
  itemsExpireAt: string;
  canceledJobs: number;
}

/**
 * Decommission: revoke first (the one step that must happen; from then on no request authenticates, but for the
 * credentials cache's stated bound), then cancel the open jobs, retire the other items, and resolve any open
 * DeviceOffline alert. Every step is idempotent: after a crash, calling again finishes the job.
 */
export async function decommissionDevice(
  deviceId: string,
  ctx: { by: string; now: number; correlationId: string },
): Promise<DecommissionResult | undefined> {
  const tombstone = await revokeDevice(deviceId, ctx.now);
  if (!tombstone) return undefined;
  let canceledJobs = 0;
  for (const job of await listOpenJobsForDevice(deviceId)) if (await cancelForDecommission(job, ctx)) canceledJobs++;
  await retireDeviceItems(deviceId, tombstone);
  await retireLiveness(deviceId);
  await resolveAlert(dedupeKeyFor({ alertName: 'DeviceOffline', deviceId }), {
    now: ctx.now,
    correlationId: ctx.correlationId,
  });
  await recordEvent(
    { type: 'device.decommissioned', deviceId, correlationId: ctx.correlationId, detail: { by: ctx.by, canceledJobs } },
    ctx.now,
  );
  return {
    deviceId,
    decommissionedAt: tombstone.decommissionedAt,
    itemsExpireAt: new Date(tombstone.expiresAt * 1000).toISOString(),
    canceledJobs,
  };
}

/** Cancel one open job (re-read on a lost race); false when it reached a terminal state on its own meanwhile. */
async function cancelForDecommission(listed: Job, ctx: { by: string; now: number }): Promise<boolean> {
  let job: Job | undefined = listed;
  for (let race = 0; race < MAX_RACES && job; race++) {
    const moved = transition(job, {
      to: 'CANCELED',
      by: ctx.by,
      now: ctx.now,
      statusDetails: { reason: 'device decommissioned' },
    });
    if (!moved.ok) return false;
    if (await transitionJob(job, moved.job, { now: ctx.now })) {
      countOutcome({
        type: job.type,
        outcome: 'CANCELED',
        failed: false,
        final: true,
        createdAt: job.createdAt,
        now: ctx.now,
      });
      return true;
    }
    job = await getJob(job.jobId);
  }
  return false;
}
