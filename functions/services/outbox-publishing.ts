/**
 * The outbox sweep (the outbox-publisher function's run, every minute; also callable in-process): sends the jobs
 * that are still `unpublished` in JOBS_TABLE's outbox GSI to the jobs queue (SendMessageBatch), then takes each
 * off the outbox with a write conditional on its attempt.
 *
 * Normally the enqueue route (or the retry path) publishes inline and the outbox is empty; this run is what
 * guarantees that a job whose SQS send failed, or whose Lambda died after writing it, still reaches the queue.
 * Publishing a job twice is harmless: the dispatcher is idempotent per job id + attempt and dispatching is a
 * conditional write, so a duplicate message has no effect.
 *
 * Metrics (docs/runbook.md, JobsStuckInQueue: > 10 jobs unpublished for > 5 minutes):
 *   outbox_unpublished_count, outbox_oldest_unpublished_age_seconds — what was waiting when this run looked;
 *   outbox_published_total, outbox_publish_failures_total; dlq_depth{queue=jobs}.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { queueDepth } from '../adapters/dlq.js';
import { SQS_BATCH, sendJobMessages } from '../adapters/job-queue.js';
import {
  listAllUnpublished,
  markPublished,
  retireFromOutbox,
  unpublishedSince,
  type OutboxJob,
} from '../adapters/jobs-repo.js';
import { isTerminal } from '../domain/job-lifecycle.js';
import { MAX_SQS_DELAY_SECONDS } from '../domain/retry-policy.js';
import { config } from '../lib/config.js';
import { logger, metrics } from '../lib/observability.js';

/**
 * Jobs younger than this are left to the writer that is publishing them inline right now; publishing them here
 * too would only make duplicate messages.
 */
export const OUTBOX_GRACE_MS = 10_000;

export interface PublishOptions {
  now?: number;
  limitPerShard?: number;
  graceMs?: number;
  /** Also gauge the jobs DLQ depth (the scheduled run does). */
  gaugeDlq?: boolean;
}

export interface PublishResult {
  unpublished: number;
  oldestAgeSeconds: number;
  published: number;
  failed: number;
  /** Sent, but the job had moved on meanwhile (already marked, or re-armed as a newer attempt). */
  alreadyMarked: number;
  /** Ended before it was ever published (cancelled): taken off the outbox, not sent. */
  retired: number;
}

export function delayFor(job: OutboxJob, now: number): number {
  if (!job.notBeforeEpoch) return 0;
  return Math.max(0, Math.min(MAX_SQS_DELAY_SECONDS, Math.ceil((job.notBeforeEpoch - now) / 1000)));
}

export async function publishOutbox(o: PublishOptions = {}): Promise<PublishResult> {
  const now = o.now ?? Date.now();
  const grace = o.graceMs ?? OUTBOX_GRACE_MS;
  const listed = (await listAllUnpublished(o.limitPerShard ?? 500)).filter((j) => j.publishState === 'unpublished');
  // A job cancelled before it was published has nothing to deliver; it must not look stuck either.
  let retired = 0;
  for (const j of listed.filter((x) => isTerminal(x.status))) if (await retireFromOutbox(j.jobId)) retired++;
  const found = listed.filter((j) => !isTerminal(j.status));
  const oldest = found.reduce((min, j) => Math.min(min, unpublishedSince(j)), now);
  const result: PublishResult = {
    unpublished: found.length,
    oldestAgeSeconds: Math.max(0, Math.round((now - oldest) / 1000)),
    published: 0,
    failed: 0,
    alreadyMarked: 0,
    retired,
  };
  metrics.addMetric('outbox_unpublished_count', MetricUnit.Count, result.unpublished);
  metrics.addMetric('outbox_oldest_unpublished_age_seconds', MetricUnit.Seconds, result.oldestAgeSeconds);

  const due = found.filter((j) => now - unpublishedSince(j) >= grace);
  for (let i = 0; i < due.length; i += SQS_BATCH) {
    const chunk = due.slice(i, i + SQS_BATCH);
    let sent: string[] = [];
    try {
      const res = await sendJobMessages(chunk.map((job) => ({ job, delaySeconds: delayFor(job, now) })));
      sent = res.sent;
      result.failed += res.failed.length;
      for (const f of res.failed)
        logger.warn('outbox: send failed, kept for the next run', { jobId: f.jobId, error: f.error });
    } catch (err) {
      result.failed += chunk.length;
      logger.error('outbox: batch send failed, kept for the next run', { jobs: chunk.length, err });
      continue;
    }
    const byId = new Map(chunk.map((j) => [j.jobId, j]));
    for (const jobId of sent) {
      const job = byId.get(jobId)!;
      if (await markPublished(jobId, job.attempt)) result.published++;
      else result.alreadyMarked++;
      logger.info('outbox: published', { jobId, attempt: job.attempt, correlationId: job.correlationId });
    }
  }
  metrics.addMetric('outbox_published_total', MetricUnit.Count, result.published);
  metrics.addMetric('outbox_publish_failures_total', MetricUnit.Count, result.failed);
  if (o.gaugeDlq) {
    try {
      const d = await queueDepth(config.jobsDlqUrl);
      const m = metrics.singleMetric();
      m.addDimension('queue', 'jobs');
      m.addMetric('dlq_depth', MetricUnit.Count, d.visible + d.inFlight);
    } catch (err) {
      logger.warn('could not read the jobs DLQ depth', { err });
    }
  }
  return result;
}
