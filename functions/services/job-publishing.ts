/**
 * Getting a job to the jobs queue (transactional outbox, docs/architecture.md "Job queue"): the job is written
 * `unpublished` first; its queue message follows; only then is it taken off the outbox. A crash in between leaves
 * the job in the outbox and the outbox publisher sends it again; the dispatcher absorbs the duplicate (idempotent
 * per job id + attempt).
 *
 * `enqueueJob` is the one way a new job enters the system, whoever creates it (an operator's POST /jobs, the health
 * evaluator's automated recovery): write it to the outbox, count it (jobs_enqueued_total, one shape everywhere),
 * publish it best-effort.
 */
import type { Job } from '../contract/jobs.js';
import { countEnqueued } from '../adapters/job-metrics.js';
import { sendJobMessage, type Publishable } from '../adapters/job-queue.js';
import { createJob, markPublished } from '../adapters/jobs-repo.js';
import { logger } from '../lib/observability.js';

/** Send the job's message, then take it off the outbox. Throws if sending fails (the outbox keeps it). */
export async function publishJob(
  job: Publishable,
  opts: { delaySeconds?: number } = {},
): Promise<{ messageId?: string; marked: boolean }> {
  const messageId = await sendJobMessage(job, opts);
  // With the attempt known, the mark is conditional on it (a late mark must not hide a newer attempt's retry).
  const marked = await markPublished(job.jobId, job.attempt);
  return { messageId, marked };
}

/**
 * Store a new job in the outbox, count it and publish it. Publishing is best-effort: when it fails the job is
 * safe in the outbox and the outbox publisher queues it (`published: false`). `onStored` runs between the write
 * and the publication, for what must be recorded before the dispatcher can act on the job.
 */
export async function enqueueJob(
  job: Job,
  opts: { onStored?: () => Promise<void> } = {},
): Promise<{ published: boolean }> {
  await createJob(job);
  countEnqueued(job.type);
  await opts.onStored?.();
  try {
    await publishJob(job);
    return { published: true };
  } catch (err) {
    logger.warn('publishing the job failed; left for the outbox publisher', {
      jobId: job.jobId,
      deviceId: job.deviceId,
      correlationId: job.correlationId,
      error: (err as Error).message,
    });
    return { published: false };
  }
}
