/**
 * What an operator does with a stuck job (docs/runbook.md, "Stuck job"):
 *  - retry it now: a QUEUED job (waiting out a retry delay, its message lost or held) or an IN_PROGRESS one whose
 *    device went quiet is re-armed as a new attempt (domain/job-lifecycle rearmByOperator) and published at once;
 *  - move it to the dead-letter queue: the same re-arm, but its message goes to the jobs DLQ with the operator's
 *    reason, so it shows in `fleetmedic dlq list` and is redriven like any dead letter (the dispatcher then
 *    delivers that attempt).
 * Each is one conditional write on the job's version (a concurrent change → `conflict`, nothing written), then
 * the message, then the audit event. A finished job → `invalid` (409), nothing written.
 * If the DLQ send fails after the write, the job is QUEUED with no message anywhere: the error is returned (500)
 * and repeating the command (or `jobs retry`) re-arms and sends it again.
 */
import type { Job } from '../contract/jobs.js';
import { sendToDeadLetterQueue } from '../adapters/dlq.js';
import { messageOf } from '../adapters/job-queue.js';
import { getJob, storeDeadLetteredJob, storeRearmedJob, toJob } from '../adapters/jobs-repo.js';
import { rearmByOperator } from '../domain/job-lifecycle.js';
import { config } from '../lib/config.js';
import { logger } from '../lib/observability.js';
import { type Actor, recordOperatorAction } from './audit.js';
import { publishJob } from './job-publishing.js';

export type JobOperationOutcome =
  | { kind: 'done'; job: Job; published?: boolean }
  | { kind: 'not-found' }
  | { kind: 'invalid'; message: string; status: string; version: number }
  | { kind: 'conflict'; version: number };

export async function retryJobNow(jobId: string, who: Actor): Promise<JobOperationOutcome> {
  const current = await getJob(jobId);
  if (!current) return { kind: 'not-found' };
  const r = rearmByOperator(current, {
    by: who.by,
    now: who.now,
    statusDetails: { retriedBy: who.by, retriedFromAttempt: current.attempt, retriedFromStatus: current.status },
  });
  if (!r.ok) return { kind: 'invalid', message: r.message, status: current.status, version: current.version };
  if (!(await storeRearmedJob(current, r.job, { now: who.now }))) return { kind: 'conflict', version: current.version };
  let published = true;
  try {
    await publishJob(r.job);
  } catch (err) {
    // The job is in the outbox: the outbox publisher sends it within its next run.
    published = false;
    logger.warn('retry stored but not published; left for the outbox publisher', {
      jobId,
      correlationId: current.correlationId,
      error: (err as Error).message,
    });
  }
  await recordOperatorAction(
    {
      action: 'job.retry',
      target: { kind: 'job', id: jobId },
      deviceId: current.deviceId,
      params: { type: current.type, fromStatus: current.status, attempt: r.job.attempt },
    },
    who,
  );
  return { kind: 'done', job: toJob(r.job), published };
}

export async function deadLetterJob(jobId: string, reason: string, who: Actor): Promise<JobOperationOutcome> {
  const current = await getJob(jobId);
  if (!current) return { kind: 'not-found' };
  const statusDetails = {
    deadLettered: { reason, by: who.by, at: new Date(who.now).toISOString(), fromStatus: current.status },
  };
  const r = rearmByOperator(current, { by: who.by, now: who.now, statusDetails });
  if (!r.ok) return { kind: 'invalid', message: r.message, status: current.status, version: current.version };
  if (!(await storeDeadLetteredJob(current, r.job))) return { kind: 'conflict', version: current.version };
  const { body, attributes } = messageOf(r.job);
  await sendToDeadLetterQueue({
    dlqUrl: config.jobsDlqUrl,
    sourceQueue: config.jobsQueueUrl,
    body,
    attributes,
    reason: `dead-lettered by ${who.by}: ${reason}`,
    receiveCount: 0,
    now: who.now,
  });
  await recordOperatorAction(
    {
      action: 'job.dead-letter',
      target: { kind: 'job', id: jobId },
      deviceId: current.deviceId,
      params: { type: current.type, fromStatus: current.status, attempt: r.job.attempt, reason },
    },
    who,
  );
  return { kind: 'done', job: toJob(r.job) };
}
