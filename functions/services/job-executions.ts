/**
 * A device moves a job execution on (IoT Jobs UpdateJobExecution) with optimistic concurrency:
 *  - `expectedVersion` ≠ stored version → 409 version_conflict (details.currentVersion), nothing written —
 *    unless it is the replay of the very update that produced the stored version (lost response): 200;
 *  - a transition the lifecycle forbids (terminal states are final) → 409 invalid_transition;
 *  - FAILED takes the shared failure path (services/job-failures.ts: the job type's retry policy re-arms the job
 *    as the next attempt or ends it, `command.failed` and escalation events/alerts, retry publication), and
 *    counts once per failed attempt on the device's circuit breaker;
 *  - SUCCEEDED tells the circuit breaker the device works (no write when it is closed with no failures);
 *  - any accepted update opens the device's short sync window (a follow-up job is likely).
 */
import { getJob, markEffectsApplied, toJob, transitionJob, type JobRecord } from '../adapters/jobs-repo.js';
import { countOutcome } from '../adapters/job-metrics.js';
import { openActiveWindow } from '../adapters/liveness-repo.js';
import type { Job, JobExecutionUpdate } from '../contract/jobs.js';
import { isRepeatedClaim, isReplayOf, transition } from '../domain/job-lifecycle.js';
import { activeUntil } from '../domain/liveness.js';
import { httpError } from '../http/errors.js';
import { config } from '../lib/config.js';
import { recordFailure, recordSuccess } from './circuit-breaker.js';
import { recordJobFailure } from './job-failures.js';
import { countJobRecovery } from './recovery-stats.js';

/** Apply a device's update to its job; answers the job as it now is, or throws the 4xx the update earns. */
export async function updateJobExecution(
  deviceId: string,
  jobId: string,
  update: JobExecutionUpdate,
  now: number,
): Promise<Job> {
  const job = await getJob(jobId);
  if (!job) throw httpError('not_found', `No job ${jobId}`);
  if (job.deviceId !== deviceId) throw httpError('forbidden', 'This job belongs to another device');

  if (job.version !== update.expectedVersion) {
    if (isReplayOf(job, update, deviceId)) {
      // The device did not get our answer last time; finish what that update started and answer the same.
      await applyCircuitEffect(job, update.status, failedAttemptOf(job, update.status, deviceId));
      return toJob(job);
    }
    throw httpError('version_conflict', `Job is at version ${job.version}, not ${update.expectedVersion}`, {
      currentVersion: job.version,
      status: job.status,
    });
  }

  if (isRepeatedClaim(job, update, deviceId)) return toJob(job);

  let next: Job;
  if (update.status === 'FAILED') {
    const details = update.statusDetails;
    const error =
      typeof details?.error === 'string'
        ? details.error
        : typeof details?.reason === 'string'
          ? details.reason
          : undefined;
    const failed = await recordJobFailure(job, {
      kind: 'FAILED',
      by: deviceId,
      now: now,
      // Counted below, once per attempt, so that a replayed update cannot count it twice.
      countOnCircuit: false,
      ...(error !== undefined ? { error } : {}),
      ...(details ? { statusDetails: details } : {}),
    });
    if (failed.outcome === 'invalid')
      throw httpError('invalid_transition', failed.message, { from: job.status, to: update.status });
    if (failed.outcome === 'conflict') throw await conflict(jobId);
    next = failed.job;
  } else {
    const moved = transition(job, {
      to: update.status,
      by: deviceId,
      now: now,
      ...(update.statusDetails ? { statusDetails: update.statusDetails } : {}),
    });
    if (!moved.ok) throw httpError('invalid_transition', moved.message, { from: moved.from, to: moved.to });
    if (!(await transitionJob(job, moved.job, { now: now }))) throw await conflict(jobId);
    next = moved.job;
    // FAILED is counted on the shared failure path; the other outcomes here, so HighJobFailureRate's
    // denominator (jobs_processed_total) sees device successes too. A rejected command did not work: it counts as failed.
    if (update.status !== 'IN_PROGRESS') {
      countOutcome({
        type: job.type,
        outcome: update.status,
        failed: update.status === 'REJECTED',
        final: true,
        createdAt: job.createdAt,
        now: now,
      });
      // A retried attempt that finished: the RETRY worked or not (recovery statistics).
      if (job.attempt > 1 && (update.status === 'SUCCEEDED' || update.status === 'REJECTED'))
        await countJobRecovery(deviceId, 'RETRY', update.status === 'SUCCEEDED' ? 'succeeded' : 'failed', {
          now: now,
          correlationId: job.correlationId,
          jobId,
        });
    }
  }
  await applyCircuitEffect(job, update.status, job.attempt);
  // Job activity makes a follow-up command likely: keep the device on the short sync interval for a while
  // (domain/liveness.ts), so the next job is picked up in seconds, not at the next idle sync.
  await openActiveWindow(deviceId, activeUntil(now, config.liveness));
  return toJob(next);
}

async function conflict(jobId: string) {
  const current = await getJob(jobId);
  return httpError('version_conflict', 'The job changed while this update was applied', {
    currentVersion: current?.version,
    status: current?.status,
  });
}

/** The attempt a replayed FAILED update failed (the history entry it wrote). */
function failedAttemptOf(job: Job, status: string, by: string): number {
  const entry = job.history.slice(-2).find((h) => h.status === status && h.by === by);
  return entry?.attempt ?? job.attempt;
}

/**
 * Circuit-breaker side of a device outcome. A failure counts once per failed attempt: count, then mark — a crash
 * in between may count a replayed failure twice (opening one failure early), never lose it.
 */
async function applyCircuitEffect(job: JobRecord, status: string, attempt: number): Promise<void> {
  const ctx = { correlationId: job.correlationId, source: job.jobId };
  if (status === 'FAILED') {
    if (job.effectsAppliedAttempt !== undefined && job.effectsAppliedAttempt >= attempt) return;
    await recordFailure(job.deviceId, ctx);
    await markEffectsApplied(job.jobId, attempt);
  } else if (status === 'SUCCEEDED') {
    await recordSuccess(job.deviceId, ctx);
  }
}
