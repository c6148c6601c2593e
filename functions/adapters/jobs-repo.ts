/**
 * Job records in JOBS_TABLE (pk `jobId`). The item is the contract `Job` plus bookkeeping that drives the
 * sparse GSIs (docs/architecture.md):
 *   outboxShard      while unpublished        → outbox publisher's work list
 *   pendingDeviceId  dispatched..terminal      → what the device polls
 *   timeoutShard + timeoutAtEpoch while IN_PROGRESS → the timeout sweeper's work list
 * Every transition is conditional on `version` and the from-status, so two writers never both win.
 *
 * A little over the ~400 lines a file keeps to: it is the whole I/O of one table, and every write here keeps the
 * GSI bookkeeping above in step with the status; split, that rule would be spread over several files.
 */
import { GetItemCommand, QueryCommand as RawQueryCommand } from '@aws-sdk/client-dynamodb';
import { PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { TERMINAL_JOB_STATUSES, type Job, type JobStatus } from '../contract/jobs.js';
import { inProgressDeadline, isTerminal } from '../domain/job-lifecycle.js';
import { allShards, OUTBOX_SHARDS, outboxShard, timeoutShard } from '../domain/shards.js';
import { documentClient, dynamo } from '../lib/aws.js';
import { config } from '../lib/config.js';
import { isConditionFailure, updateIf, type ConditionalUpdate } from './common/conditions.js';
import { rawString, readItem, readItems, type UnreadableItem } from './common/item-reader.js';

/** Terminal jobs are kept for 30 days (TTL), then DynamoDB drops them. */
export const TERMINAL_JOB_TTL_SECONDS = 30 * 86400;

export interface JobRecord extends Job {
  /** `dead-lettered`: an operator moved its current attempt's message to the jobs DLQ (storeDeadLetteredJob). */
  publishState: 'unpublished' | 'published' | 'dead-lettered';
  outboxShard?: string;
  pendingDeviceId?: string;
  timeoutShard?: string;
  timeoutAtEpoch?: number;
  expiresAt?: number;
  /** The highest failed attempt whose cloud-side effects (circuit failure count) were applied. */
  effectsAppliedAttempt?: number;
}

const JOB_FIELDS = [
  'jobId',
  'deviceId',
  'type',
  'params',
  'status',
  'version',
  'attempt',
  'createdAt',
  'updatedAt',
  'correlationId',
  'statusDetails',
  'inProgressTimeoutSeconds',
  'history',
] as const;

/** The contract view of a stored job (bookkeeping attributes removed). */
export function toJob(record: Job): Job {
  const out: Record<string, unknown> = {};
  for (const k of JOB_FIELDS)
    if ((record as unknown as Record<string, unknown>)[k] !== undefined)
      out[k] = (record as unknown as Record<string, unknown>)[k];
  return out as unknown as Job;
}

export class JobExistsError extends Error {}

/** Write a new job as unpublished, listed in the outbox until `markPublished`. */
export async function createJob(job: Job): Promise<JobRecord> {
  const record: JobRecord = { ...job, publishState: 'unpublished', outboxShard: outboxShard(job.jobId) };
  try {
    await documentClient().send(
      new PutCommand({ TableName: config.jobsTable, Item: record, ConditionExpression: 'attribute_not_exists(jobId)' }),
    );
  } catch (err) {
    if (isConditionFailure(err)) throw new JobExistsError(`job ${job.jobId} already exists`);
    throw err;
  }
  return record;
}

/** One job; one stored in a shape that cannot be read throws UnreadableItemError (adapters/common/item-reader.ts). */
export async function getJob(jobId: string, consistent = true): Promise<JobRecord | undefined> {
  const res = await dynamo().send(
    new GetItemCommand({ TableName: config.jobsTable, Key: { jobId: { S: jobId } }, ConsistentRead: consistent }),
  );
  return readItem<JobRecord>('job', res.Item, () => ({ id: jobId, item: 'job' }));
}

export interface TransitionOptions {
  now?: number;
}

/**
 * Store `next` (computed by domain/job-lifecycle from `current`) if nobody moved the job meanwhile.
 * Returns false when the version or status changed underneath (the caller answers 409 or re-reads).
 */
export async function transitionJob(current: Job, next: Job, opts: TransitionOptions = {}): Promise<boolean> {
  const now = opts.now ?? Date.now();
  const set: string[] = [];
  const remove: string[] = [];
  const values: Record<string, unknown> = {};
  if (next.statusDetails !== undefined) {
    set.push('statusDetails = :details');
    values[':details'] = next.statusDetails;
  }
  if (isTerminal(next.status)) {
    remove.push('pendingDeviceId', 'timeoutShard', 'timeoutAtEpoch');
    set.push('expiresAt = :expiresAt');
    values[':expiresAt'] = Math.floor(now / 1000) + TERMINAL_JOB_TTL_SECONDS;
  } else if (next.status === 'QUEUED' && next.attempt > current.attempt) {
    // Re-armed for another attempt (retry policy): back into the outbox so the publisher queues it again
    // (honouring its retry delay), and off the device's pending list until it is dispatched anew.
    set.push('publishState = :unpublished', 'outboxShard = :oshard');
    values[':unpublished'] = 'unpublished';
    values[':oshard'] = outboxShard(next.jobId);
    remove.push('pendingDeviceId', 'timeoutShard', 'timeoutAtEpoch');
  } else if (next.status === 'IN_PROGRESS' && current.status !== 'IN_PROGRESS') {
    set.push('timeoutShard = :tshard', 'timeoutAtEpoch = :tat');
    values[':tshard'] = timeoutShard(next.jobId);
    values[':tat'] = inProgressDeadline(next, now);
  }
  return await updateIf(versionedJobUpdate(current, next, { set, remove, values }));
}

/** Attribute changes a particular kind of transition adds to the ones every transition makes. */
export interface TransitionExtras {
  set: string[];
  remove: string[];
  values: Record<string, unknown>;
}

/**
 * The update every job transition is: `next`'s status, version, attempt, updatedAt and history (plus `extras`),
 * conditional on the version and status `next` was computed from, so of two writers only one wins.
 */
export function versionedJobUpdate(current: Job, next: Job, extras: TransitionExtras): ConditionalUpdate {
  const set = [
    '#status = :to',
    '#version = :nv',
    'attempt = :attempt',
    'updatedAt = :updatedAt',
    '#history = :history',
    ...extras.set,
  ];
  return {
    TableName: config.jobsTable,
    Key: { jobId: current.jobId },
    UpdateExpression: `SET ${set.join(', ')}${extras.remove.length ? ` REMOVE ${extras.remove.join(', ')}` : ''}`,
    ConditionExpression: '#version = :v AND #status = :from',
    ExpressionAttributeNames: { '#status': 'status', '#history': 'history', '#version': 'version' },
    ExpressionAttributeValues: {
      ':from': current.status,
      ':v': current.version,
      ':to': next.status,
      ':nv': next.version,
      ':attempt': next.attempt,
      ':updatedAt': next.updatedAt,
      ':history': next.history,
      ...extras.values,
    },
  };
}

/**
 * The dispatcher delivered the job towards its device: list it under `pendingDeviceId` so the device's poll
 * finds it. Idempotent; returns the job, or undefined when it is missing or already terminal.
 */
export async function markDispatched(jobId: string): Promise<JobRecord | undefined> {
  try {
    const res = await documentClient().send(
      new UpdateCommand({
        TableName: config.jobsTable,
        Key: { jobId },
        UpdateExpression: 'SET pendingDeviceId = deviceId',
        ConditionExpression: 'attribute_exists(jobId) AND (#status = :q OR #status = :ip)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':q': 'QUEUED', ':ip': 'IN_PROGRESS' },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return res.Attributes as JobRecord;
  } catch (err) {
    if (isConditionFailure(err)) return undefined;
    throw err;
  }
}

/**
 * The job reached the queue: take it off the outbox. Returns false when it was already published. With `attempt`,
 * only that attempt is taken off: a late mark for attempt n must not hide the retry (attempt n+1) that re-entered
 * the outbox meanwhile (false then too).
 */
export async function markPublished(jobId: string, attempt?: number): Promise<boolean> {
  return await updateIf({
    TableName: config.jobsTable,
    Key: { jobId },
    UpdateExpression: 'SET publishState = :published REMOVE outboxShard, outboxSinceEpoch',
    ConditionExpression:
      attempt === undefined ? 'publishState = :unpublished' : 'publishState = :unpublished AND attempt = :attempt',
    ExpressionAttributeValues: {
      ':published': 'published',
      ':unpublished': 'unpublished',
      ...(attempt === undefined ? {} : { ':attempt': attempt }),
    },
  });
}

/**
 * Record that the cloud-side effects of a failed attempt (the circuit failure count) were applied, so a
 * replayed device update does not count the same attempt twice. Per attempt: a retried job can fail again.
 */
export async function markEffectsApplied(jobId: string, attempt: number): Promise<boolean> {
  return await updateIf({
    TableName: config.jobsTable,
    Key: { jobId },
    UpdateExpression: 'SET effectsAppliedAttempt = :a',
    ConditionExpression:
      'attribute_exists(jobId) AND (attribute_not_exists(effectsAppliedAttempt) OR effectsAppliedAttempt < :a)',
    ExpressionAttributeValues: { ':a': attempt },
  });
}

/** Jobs dispatched to a device and not terminal yet, oldest first (GSI: eventually consistent). */
export async function listPendingForDevice(deviceId: string, limit = 50): Promise<JobRecord[]> {
  return (await readPendingForDevice(deviceId, limit)).jobs;
}

/**
 * The same, read item by item (raw client): a job stored in a shape that cannot be read is left out and named
 * in `unreadable`, so it cannot block the device's other jobs.
 */
export async function readPendingForDevice(
  deviceId: string,
  limit = 50,
): Promise<{ jobs: JobRecord[]; unreadable: UnreadableItem[] }> {
  const res = await dynamo().send(
    new RawQueryCommand({
      TableName: config.jobsTable,
      IndexName: 'pendingByDevice',
      KeyConditionExpression: 'pendingDeviceId = :d',
      ExpressionAttributeValues: { ':d': { S: deviceId } },
      ScanIndexForward: true,
      Limit: limit,
    }),
  );
  const { items, unreadable } = readItems<JobRecord>('pending-jobs', res.Items ?? [], (raw) => ({
    id: rawString(raw, 'jobId'),
    item: 'job',
  }));
  // The index lags the table by a moment: never hand out a job that already finished.
  return { jobs: items.filter((j) => !isTerminal(j.status)), unreadable };
}

/** Unpublished jobs of one outbox shard, oldest first, optionally only those created before `createdBefore`. */
export async function listUnpublished(shard: string, limit = 100, createdBefore?: string): Promise<JobRecord[]> {
  const res = await documentClient().send(
    new QueryCommand({
      TableName: config.jobsTable,
      IndexName: 'outbox',
      KeyConditionExpression: createdBefore ? 'outboxShard = :s AND createdAt < :before' : 'outboxShard = :s',
      ExpressionAttributeValues: { ':s': shard, ...(createdBefore ? { ':before': createdBefore } : {}) },
      ScanIndexForward: true,
      Limit: limit,
    }),
  );
  return (res.Items ?? []) as JobRecord[];
}

/** A device's jobs, newest first (history view). */
export async function listJobsForDevice(deviceId: string, limit = 20): Promise<JobRecord[]> {
  const res = await documentClient().send(
    new QueryCommand({
      TableName: config.jobsTable,
      IndexName: 'byDevice',
      KeyConditionExpression: 'deviceId = :d',
      ExpressionAttributeValues: { ':d': deviceId },
      ScanIndexForward: false,
      Limit: limit,
    }),
  );
  return (res.Items ?? []) as JobRecord[];
}

export type { JobStatus };

/**
 * Every job of a device that is not terminal yet (QUEUED, dispatched or not, and IN_PROGRESS), from the `byDevice`
 * index, all pages. Read when a device is decommissioned; what it reads is bounded by the device's jobs of the last
 * 30 days (terminal jobs expire).
 */
export async function listOpenJobsForDevice(deviceId: string): Promise<JobRecord[]> {
  const out: JobRecord[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const res = await documentClient().send(
      new QueryCommand({
        TableName: config.jobsTable,
        IndexName: 'byDevice',
        KeyConditionExpression: 'deviceId = :d',
        FilterExpression: '#status IN (:q, :ip)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':d': deviceId, ':q': 'QUEUED', ':ip': 'IN_PROGRESS' },
        ExclusiveStartKey: startKey,
      }),
    );
    out.push(...((res.Items ?? []) as JobRecord[]));
    startKey = res.LastEvaluatedKey;
  } while (startKey);
  return out;
}

// ---- the transactional outbox ----

/**
 * The transactional outbox of JOBS_TABLE: a job is written `unpublished` (listed in the sparse `outbox` GSI under
 * its shard) in the same write that creates or re-arms it; the queue message follows, and only then is the job
 * taken off the outbox. Whoever crashes in between, the outbox publisher finds the job and sends it again.
 *
 * A job can be published twice (a publisher and the enqueue route racing, a GSI read that lags the table, a
 * crash between SendMessage and markPublished in jobs-repo). That is harmless by design: the dispatcher is
 * idempotent per job id + attempt, and dispatching is itself a conditional write, so the second message has no effect.
 */
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

/**
 * Store a job an operator moved to the dead-letter queue (domain/job-lifecycle rearmByOperator): QUEUED as a new
 * attempt whose only message is the one in the jobs DLQ, so it is off the outbox (the publisher must not send it),
 * the device's pending list and the timeout list, with its retry delay cleared. Redriving the message dispatches
 * it like any other. False when someone moved the job first.
 */
export async function storeDeadLetteredJob(current: Job, next: Job): Promise<boolean> {
  return await updateIf(
    versionedJobUpdate(current, next, {
      set: ['statusDetails = :details', 'publishState = :dead'],
      remove: [
        'outboxShard',
        'outboxSinceEpoch',
        'pendingDeviceId',
        'timeoutShard',
        'timeoutAtEpoch',
        'notBeforeEpoch',
      ],
      values: { ':details': next.statusDetails ?? {}, ':dead': 'dead-lettered' },
    }),
  );
}
