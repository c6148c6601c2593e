/**
 * The device moves a job execution on (IoT Jobs UpdateJobExecution) with optimistic concurrency:
 *  - `expectedVersion` ≠ stored version → 409 version_conflict (details.currentVersion), nothing written —
 *    unless it is the replay of the very update that produced the stored version (lost response): 200;
 *  - a transition the lifecycle forbids (terminal states are final) → 409 invalid_transition;
 *  - FAILED goes through the job type's retry policy (re-armed as the next attempt, or terminal) and is written
 *    together with its `command.failed` event in one transaction; it then counts as a circuit failure;
 *  - SUCCEEDED tells the circuit breaker the device works (no write when it is closed with no failures).
 */
import { recordFailure, recordSuccess } from '../../adapters/circuit-repo.js';
import { eventPut } from '../../adapters/events.js';
import { getJob, markEffectsApplied, toJob, transitionJob, type JobRecord } from '../../adapters/jobs-repo.js';
import type { Job } from '../../contract/jobs.js';
import { isReplayOf, transition } from '../../domain/job-lifecycle.js';
import { failAttempt } from '../../domain/job-recovery.js';
import { logger } from '../../lib/observability.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';

export default defineRoute('updateJobExecution', async (req) => {
  const { deviceId, jobId } = req.params;
  const update = req.body;
  const job = await getJob(jobId);
  if (!job) throw httpError('not_found', `No job ${jobId}`);
  if (job.deviceId !== deviceId) throw httpError('forbidden', 'This job belongs to another device');

  if (job.version !== update.expectedVersion) {
    if (isReplayOf(job, update, deviceId)) {
      // The device did not get our answer last time; finish what that update started and answer the same.
      await applyEffects(job, update.status, failedAttemptOf(job, update.status, deviceId), req.correlationId);
      return { statusCode: 200, body: toJob(job) };
    }
    throw httpError('version_conflict', `Job is at version ${job.version}, not ${update.expectedVersion}`, { currentVersion: job.version, status: job.status });
  }

  const errorText = typeof update.statusDetails?.error === 'string' ? update.statusDetails.error : typeof update.statusDetails?.reason === 'string' ? update.statusDetails.reason : undefined;
  let next: Job;
  let events: { type: string; detail: Record<string, unknown> }[] = [];
  if (update.status === 'FAILED') {
    const failed = failAttempt(job, { kind: 'FAILED', by: deviceId, now: req.now, ...(errorText !== undefined ? { error: errorText } : {}) });
    if (!failed.ok) throw httpError('invalid_transition', failed.message, { from: failed.from, to: update.status });
    next = update.statusDetails ? { ...failed.job, statusDetails: { ...(failed.job.statusDetails ?? {}), ...update.statusDetails } } : failed.job;
    events = failed.events;
  } else {
    const moved = transition(job, { to: update.status, by: deviceId, now: req.now, ...(update.statusDetails ? { statusDetails: update.statusDetails } : {}) });
    if (!moved.ok) throw httpError('invalid_transition', moved.message, { from: moved.from, to: moved.to });
    next = moved.job;
  }

  const alsoWrite = events.map((e) => eventPut({ type: e.type, deviceId, correlationId: job.correlationId, detail: e.detail }, req.now));
  if (!(await transitionJob(job, next, { now: req.now, alsoWrite }))) {
    const current = await getJob(jobId);
    throw httpError('version_conflict', 'The job changed while this update was applied', { currentVersion: current?.version, status: current?.status });
  }
  await applyEffects({ ...job, ...next }, update.status, job.attempt, req.correlationId);
  return { statusCode: 200, body: toJob(next) };
});

/** The attempt a replayed FAILED update failed (the history entry it wrote). */
function failedAttemptOf(job: Job, status: string, by: string): number {
  const entry = job.history.slice(-2).find((h) => h.status === status && h.by === by);
  return entry?.attempt ?? job.attempt;
}

/** Circuit-breaker side of a device outcome. Failure counts are applied once per failed attempt. */
async function applyEffects(job: JobRecord | Job, status: string, attempt: number, requestCorrelationId: string): Promise<void> {
  const ctx = { correlationId: job.correlationId ?? requestCorrelationId, source: job.jobId };
  if (status === 'FAILED') {
    const applied = (job as JobRecord).effectsAppliedAttempt;
    if (applied !== undefined && applied >= attempt) return;
    // Count first, then mark: a crash in between may count a replayed failure twice (opens one failure early),
    // never lose it.
    await recordFailure(job.deviceId, ctx);
    await markEffectsApplied(job.jobId, attempt);
    logger.warn('command failed on device', { deviceId: job.deviceId, jobId: job.jobId, type: job.type, attempt });
  } else if (status === 'SUCCEEDED') {
    await recordSuccess(job.deviceId, ctx);
  }
}
