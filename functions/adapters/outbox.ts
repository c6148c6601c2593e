/**
 * The transactional outbox of JOBS_TABLE: a job is written `unpublished` (listed in the sparse `outbox` GSI under
 * its shard) in the same write that creates or re-arms it; the queue message follows, and only then is the job
 * taken off the outbox. Whoever crashes in between, the outbox publisher finds the job and sends it again.
 *
 * A job can be published twice (a publisher and the enqueue route racing, a GSI read that lags the table, a
 * crash between SendMessage and markPublished in jobs-repo). That is harmless by design: the dispatcher is
 * idempotent per job id + attempt, and dispatching is itself a conditional write, so the second message has no effect.
 */
import { TERMINAL_JOB_STATUSES, type Job } from '../contract/jobs.js';
import { allShards, outboxShard, OUTBOX_SHARDS } from '../domain/shards.js';
import { config } from '../lib/config.js';
import { updateIf } from './conditions.js';
import { listUnpublished, versionedJobUpdate, type JobRecord } from './jobs-repo.js';

/** Bookkeeping the retry path adds to a job item (besides the jobs-repo attributes). */
export interface OutboxFields {
  /** When the job (re)entered the outbox, epoch ms; absent on first enqueue (createdAt is that moment). */
  outboxSinceEpoch?: number;
  /** A retry must not be dispatched before this (epoch ms); published with the matching SQS DelaySeconds. */
  notBeforeEpoch?: number;
}
export type OutboxJob = JobRecord & OutboxFields;

/** Since when a job has been waiting in the outbox. */
export function unpublishedSince(job: OutboxJob): number {
  return job.outboxSinceEpoch ?? Date.parse(job.createdAt);
}

/** Unpublished jobs of every shard, oldest first per shard. */
export async function listAllUnpublished(limitPerShard: number): Promise<OutboxJob[]> {
  const perShard = await Promise.all(allShards('outbox', OUTBOX_SHARDS).map((s) => listUnpublished(s, limitPerShard)));
  return perShard.flat() as OutboxJob[];
}

/**
 * Take a job that ended while still unpublished (cancelled before it reached the queue) off the outbox index, so it
 * neither gets published nor counts as stuck. `publishState` stays `unpublished`: it never was.
 */
export async function retireFromOutbox(jobId: string): Promise<boolean> {
  return await updateIf({
    TableName: config.jobsTable,
    Key: { jobId },
    UpdateExpression: 'REMOVE outboxShard, outboxSinceEpoch',
    ConditionExpression: 'attribute_exists(outboxShard) AND #status IN (:s1, :s2, :s3, :s4, :s5)',
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: Object.fromEntries(TERMINAL_JOB_STATUSES.map((st, i) => [`:s${i + 1}`, st])),
  });
}

export interface RearmOptions {
  now: number;
  /** Absent: the retry may go at once (a previous attempt's notBefore is cleared). */
  notBeforeEpoch?: number;
}

/**
 * Store a job re-armed for a retry (computed by domain/job-recovery from `current`): QUEUED again as attempt n+1,
 * back in the outbox, off the device's pending list and the timeout list, all in one conditional write, so the
 * failure and the decision to retry are recorded together or not at all. False when someone moved the job first.
 */
export async function storeRearmedJob(current: Job, next: Job, o: RearmOptions): Promise<boolean> {
  const set = [
    'statusDetails = :details',
    'publishState = :unpublished',
    'outboxShard = :shard',
    'outboxSinceEpoch = :since',
  ];
  const remove = ['pendingDeviceId', 'timeoutShard', 'timeoutAtEpoch'];
  const values: Record<string, unknown> = {
    ':details': next.statusDetails ?? {},
    ':unpublished': 'unpublished',
    ':shard': outboxShard(next.jobId),
    ':since': o.now,
  };
  if (o.notBeforeEpoch !== undefined) {
    set.push('notBeforeEpoch = :notBefore');
    values[':notBefore'] = o.notBeforeEpoch;
  } else {
    remove.push('notBeforeEpoch');
  }
  return await updateIf(versionedJobUpdate(current, next, { set, remove, values }));
}
