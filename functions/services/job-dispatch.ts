/**
 * Dispatching jobs from the jobs queue (the job-dispatcher function's whole work: handlers/job-dispatcher.ts only
 * wires it into Lambda). Powertools batch with ReportBatchItemFailures.
 *
 * Per message:
 *  1. parse the body and read the job (consistent read); a stale message (job terminal, attempt superseded,
 *     already dispatched) is acknowledged with no effect;
 *  2. cloud-side commands are completed here: `set-target-state` already stored its target at enqueue (the
 *     enqueue route writes TARGET, so the device's next target poll agrees at once), the dispatcher checks it is
 *     there and completes the job SUCCEEDED. It never touches the device, so it neither waits for nor takes the
 *     circuit's half-open probe, and its success does not reset the device's failure count;
 *  3. device commands ask the circuit breaker: while the device's circuit is open (or another command holds the
 *     half-open probe) the job is HELD, not failed — see `hold` below; otherwise the job is put on the device's
 *     pending list (jobs-repo markDispatched), which is what the device polls;
 *  4. the effect of step 2/3 runs under Powertools idempotency keyed on job id + attempt, so a duplicate delivery
 *     (SQS at-least-once, the outbox publishing twice, two dispatchers racing) has exactly one effect; the
 *     writes themselves are conditional too;
 *  5. the device is told to sync now over its push connection, if it has one (services/device-push.ts: a hint
 *     that never fails the dispatch; without it the device finds the job at its next sync).
 *
 * Failures: the item is reported failed after its visibility is shortened to an exponential backoff on
 * ApproximateReceiveCount (2, 4, 8... s instead of the queue's 180 s). On the last allowed receive
 * (the queue's maxReceiveCount, 5) the dispatcher sends the message to the DLQ itself WITH its failure reason as
 * message attributes and acknowledges the original, so `dlq list` can say why; should that send fail, the
 * queue's redrive policy still moves the message on its next receive (without a reason). A malformed or
 * unknown-type message follows the same rule: a version skew during a deploy makes "unknown type" possibly
 * transient, and five cheap retries are a small price for never dropping a job a newer dispatcher understands.
 * A job item stored in a shape that cannot be read is dead-lettered on its first receive: retrying cannot change it.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { IdempotencyAlreadyInProgressError } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod/mini';
import { admitCommand } from './circuit-breaker.js';
import { getTarget, putTarget } from '../adapters/devices-repo.js';
import { fromRecordAttributes, sendToDeadLetterQueue } from '../adapters/dlq.js';
import { UnreadableItemError } from '../adapters/common/item-reader.js';
import { countJobRecovery } from './recovery-stats.js';
import { recordEvent } from '../adapters/events.js';
import { delayRedelivery, jobsQueueMaxReceiveCount, resendJobMessage } from '../adapters/job-queue.js';
import { count, countOutcome } from '../adapters/job-metrics.js';
import { getJob, markDispatched, transitionJob, type JobRecord, type OutboxFields } from '../adapters/jobs-repo.js';
import { CorrelationId, DeviceId, JobId } from '../contract/common.js';
import { JOB_TYPES, TargetState, type JobType } from '../contract/index.js';
import { isTerminal, transition } from '../domain/job-lifecycle.js';
import {
  DEFAULT_VISIBILITY_BACKOFF,
  holdDelaySeconds,
  visibilityBackoffSeconds,
  type VisibilityBackoff,
} from '../domain/retry-policy.js';
import { targetVersion } from '../domain/target-version.js';
import { dynamo } from '../lib/aws.js';
import { config } from '../lib/config.js';
import { logger } from '../lib/observability.js';
import { safeParse } from '../lib/validation.js';
import { notifyDevice } from './device-push.js';

/**
 * The body the outbox/enqueue path sends (job-queue.ts JobMessage); unknown extra fields are tolerated.
 * Checked with Powertools' parser (lib/validation.ts) on the record body; its built-in SQS envelope is not used
 * (bundle size, see there), and a record is parsed on its own so one bad message fails only itself.
 */
const JobMessageBody = z.object({
  jobId: JobId,
  deviceId: DeviceId,
  type: z.string().check(z.minLength(1), z.maxLength(64)),
  correlationId: z.optional(CorrelationId),
  attempt: z.optional(z.int().check(z.minimum(1))),
});

/** Commands the control plane completes itself instead of handing them to the device. */
const CLOUD_SIDE: ReadonlySet<string> = new Set<JobType>(['set-target-state']);

/** Message attribute counting how often a job was held (visible in the DLQ listing if it ever lands there). */
export const HELD_COUNT_ATTR = 'heldCount';

/** The message cannot be dispatched as it is (bad body, unknown job or type). */
export class PoisonMessageError extends Error {
  override name = 'PoisonMessageError';
}

export type DispatchOutcome =
  | 'dispatched'
  | 'completed-cloud-side'
  | 'held'
  | 'deferred'
  | 'duplicate'
  | 'stale'
  | 'dead-lettered';

export interface DispatcherOptions {
  now?: () => number;
  /** Default: the jobs queue's RedrivePolicy maxReceiveCount (read once), else 5. */
  maxReceiveCount?: number;
  backoff?: VisibilityBackoff;
  random?: () => number;
}

// ---- idempotency (one persistence layer per table and process; Powertools configures a layer once)

type DispatchOnce = (key: { jobId: string; attempt: number }, job: JobRecord, now: number) => Promise<EffectResult>;
const idempotency = new Map<string, { config: IdempotencyConfig; dispatchOnce: DispatchOnce }>();

interface EffectResult {
  action: 'dispatched' | 'completed-cloud-side' | 'stale';
}

function idempotentEffect() {
  const table = config.idempotencyTable;
  let entry = idempotency.get(table);
  if (!entry) {
    // The key is the whole first argument, { jobId, attempt }: a retry (attempt n+1) is a new key. An hour covers
    // SQS redeliveries and outbox duplicates; later duplicates still meet the conditional writes.
    const cfg = new IdempotencyConfig({ expiresAfterSeconds: 3600 });
    const persistenceStore = new DynamoDBPersistenceLayer({ tableName: table, awsSdkV3Client: dynamo() });
    entry = {
      config: cfg,
      dispatchOnce: makeIdempotent(applyEffect, {
        persistenceStore,
        config: cfg,
        keyPrefix: 'job-dispatch',
        dataIndexArgument: 0,
      }),
    };
    idempotency.set(table, entry);
  }
  return entry;
}

/** The one effect of dispatching an attempt. Conditional writes make it safe even without the idempotency record. */
async function applyEffect(
  key: { jobId: string; attempt: number },
  job: JobRecord,
  now: number,
): Promise<EffectResult> {
  if (CLOUD_SIDE.has(job.type)) return completeCloudSide(job, now);
  const dispatched = await markDispatched(key.jobId);
  return { action: dispatched ? 'dispatched' : 'stale' };
}

async function completeCloudSide(job: JobRecord, now: number): Promise<EffectResult> {
  const target = safeParse(TargetState, job.params.target);
  if (!target.success)
    throw new PoisonMessageError(`job ${job.jobId}: set-target-state params do not hold a valid target`);
  const version = targetVersion(target.data);
  const stored = await getTarget(job.deviceId);
  // The enqueue route stored it; write it only if it is missing altogether (never over a newer target).
  if (!stored) await putTarget(job.deviceId, { version, updatedAt: new Date(now).toISOString(), target: target.data });
  const superseded = stored !== undefined && stored.version !== version;
  const moved = transition(job, {
    to: 'SUCCEEDED',
    by: 'dispatcher',
    now,
    statusDetails: {
      appliedCloudSide: true,
      targetVersion: version,
      ...(superseded ? { supersededBy: stored!.version } : {}),
    },
  });
  if (!moved.ok) return { action: 'stale' };
  // A single conditional write decides the race (see services/job-failures.ts on why not a transaction).
  if (!(await transitionJob(job, moved.job, { now }))) {
    const again = await getJob(job.jobId);
    if (again && isTerminal(again.status)) return { action: 'stale' };
    throw new Error(`job ${job.jobId} changed while completing it; will retry`);
  }
  await recordEvent(
    {
      type: 'command.succeeded',
      deviceId: job.deviceId,
      correlationId: job.correlationId,
      detail: {
        jobId: job.jobId,
        type: job.type,
        attempt: job.attempt,
        appliedCloudSide: true,
        targetVersion: version,
      },
    },
    now,
  );
  countOutcome({ type: job.type, outcome: 'SUCCEEDED', failed: false, final: true, createdAt: job.createdAt, now });
  if (job.attempt > 1)
    await countJobRecovery(job.deviceId, 'RETRY', 'succeeded', {
      now,
      correlationId: job.correlationId,
      jobId: job.jobId,
    });
  return { action: 'completed-cloud-side' };
}

// ---- per record

async function maxReceiveCount(o: DispatcherOptions): Promise<number> {
  if (o.maxReceiveCount) return o.maxReceiveCount;
  return await jobsQueueMaxReceiveCount();
}

function parseBody(record: SQSRecord): z.output<typeof JobMessageBody> {
  let json: unknown;
  try {
    json = JSON.parse(record.body);
  } catch {
    throw new PoisonMessageError(`malformed job message: body is not JSON (${record.body.slice(0, 60)})`);
  }
  const parsed = safeParse(JobMessageBody, json);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    throw new PoisonMessageError(
      `malformed job message: ${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

/** Re-send the message as a fresh copy after `delaySeconds` and acknowledge this one (see `hold`). */
async function resendLater(record: SQSRecord, delaySeconds: number): Promise<void> {
  const attributes: Record<string, MessageAttributeValue> = fromRecordAttributes(record.messageAttributes);
  const held = Number(attributes[HELD_COUNT_ATTR]?.StringValue ?? 0) + 1;
  attributes[HELD_COUNT_ATTR] = { DataType: 'Number', StringValue: String(held) };
  await resendJobMessage(record.body, attributes, delaySeconds);
}

export async function dispatchRecord(record: SQSRecord, o: DispatcherOptions = {}): Promise<DispatchOutcome> {
  const now = (o.now ?? Date.now)();
  const msg = parseBody(record);
  const job = (await getJob(msg.jobId)) as (JobRecord & OutboxFields) | undefined;
  if (!job) throw new PoisonMessageError(`job ${msg.jobId} not found`);
  if (job.deviceId !== msg.deviceId)
    throw new PoisonMessageError(`job ${msg.jobId} belongs to ${job.deviceId}, the message says ${msg.deviceId}`);
  if (!(JOB_TYPES as string[]).includes(job.type)) throw new PoisonMessageError(`unknown job type "${job.type}"`);
  const attempt = msg.attempt ?? job.attempt;
  const log = { jobId: job.jobId, deviceId: job.deviceId, type: job.type, attempt, correlationId: job.correlationId };

  // Stale or duplicate deliveries: acknowledged, no effect.
  if (isTerminal(job.status) || attempt < job.attempt) return 'stale';
  if (attempt > job.attempt)
    throw new Error(`message for attempt ${attempt} but job ${job.jobId} is at attempt ${job.attempt}`);
  if (job.status !== 'QUEUED' || job.pendingDeviceId) return 'duplicate';

  // A retry published without its delay (a redrive, a duplicate): send it back to wait, without counting a receive.
  if (job.notBeforeEpoch && job.notBeforeEpoch - now > 1000) {
    await resendLater(record, holdDelaySeconds(job.notBeforeEpoch, now));
    logger.info('job deferred until its retry time', { ...log, notBefore: new Date(job.notBeforeEpoch).toISOString() });
    return 'deferred';
  }

  if (!CLOUD_SIDE.has(job.type)) {
    const admission = await admitCommand(job.deviceId, job.jobId, {
      correlationId: job.correlationId,
      source: job.jobId,
      now,
    });
    if (!admission.admitted) {
      await hold(record, admission.retryAtEpoch, now);
      logger.info('job held: device circuit not admitting commands', {
        ...log,
        circuit: admission.state,
        retryAt: new Date(admission.retryAtEpoch).toISOString(),
      });
      return 'held';
    }
  }

  const result = await idempotentEffect().dispatchOnce({ jobId: job.jobId, attempt }, job, now);
  if (result.action === 'stale') return 'duplicate';
  logger.info(result.action === 'dispatched' ? 'job dispatched to device' : 'job completed cloud-side', log);
  // Tell the device to sync now instead of at its next poll (a hint: it never fails the dispatch).
  await notifyDevice(job.deviceId, result.action === 'dispatched' ? 'job' : 'target', now);
  return result.action;
}

/**
 * Hold a job while its device's circuit is open: a fresh copy is sent with DelaySeconds until the circuit admits
 * its half-open probe (at most 900 s, then it is held again), and this delivery is acknowledged.
 *
 * Why not ChangeMessageVisibility + failure? Every receive counts towards maxReceiveCount, so a job held through
 * five cooldowns would land in the DLQ although nothing is wrong with it. The fresh copy starts at receive count
 * 0. Send-then-acknowledge can duplicate the message if we crash in between; the idempotent dispatch absorbs it.
 */
async function hold(record: SQSRecord, retryAtEpoch: number, now: number): Promise<void> {
  await resendLater(record, holdDelaySeconds(retryAtEpoch, now));
}

function reasonOf(err: unknown): string {
  if (err instanceof IdempotencyAlreadyInProgressError)
    return 'dispatch of this job attempt is already in progress elsewhere';
  if (err instanceof PoisonMessageError) return err.message;
  const describe = (e: unknown) => {
    const x = e as { name?: string; message?: string };
    const text = x?.message ?? String(e);
    return x?.name && x.name !== 'Error' && !text.startsWith(x.name) ? `${x.name}: ${text}` : text;
  };
  // Wrapped errors (Powertools idempotency wraps the SDK's) say the useful part in their cause.
  const cause = (err as { cause?: unknown })?.cause;
  return cause ? `${describe(err)} (${describe(cause)})` : describe(err);
}

/** One record: dispatch; on failure back off or, on the last allowed receive, dead-letter it with its reason. */
export async function processRecord(record: SQSRecord, o: DispatcherOptions = {}): Promise<DispatchOutcome> {
  const receiveCount = Number(record.attributes?.ApproximateReceiveCount ?? 1);
  try {
    const outcome = await dispatchRecord(record, o);
    count(
      outcome === 'dispatched'
        ? 'jobs_dispatched_total'
        : outcome === 'completed-cloud-side'
          ? 'jobs_applied_cloud_side_total'
          : outcome === 'held'
            ? 'jobs_held_total'
            : outcome === 'deferred'
              ? 'jobs_deferred_total'
              : 'jobs_duplicate_deliveries_total',
    );
    return outcome;
  } catch (err) {
    const reason = reasonOf(err);
    const now = (o.now ?? Date.now)();
    const max = await maxReceiveCount(o);
    const correlationId = record.messageAttributes?.correlationId?.stringValue;
    const info = {
      messageId: record.messageId,
      correlationId,
      receiveCount,
      maxReceiveCount: max,
      reason,
      body: record.body.slice(0, 300),
    };
    count('jobs_dispatch_failures_total');
    // A job item that cannot be read stays unreadable however often the message comes back: dead-letter it now.
    if (receiveCount >= max || err instanceof UnreadableItemError) {
      await sendToDeadLetterQueue({
        dlqUrl: config.jobsDlqUrl,
        sourceQueue: record.eventSourceARN,
        body: record.body,
        attributes: fromRecordAttributes(record.messageAttributes),
        reason,
        receiveCount,
        now,
      });
      count('jobs_dead_lettered_total');
      logger.error('job message dead-lettered', info);
      return 'dead-lettered';
    }
    const backoff = visibilityBackoffSeconds(receiveCount, o.backoff ?? DEFAULT_VISIBILITY_BACKOFF, o.random);
    try {
      await delayRedelivery(record.receiptHandle, backoff);
    } catch (visErr) {
      // Without it the queue's visibility timeout applies: slower, still correct.
      logger.warn('could not shorten the retry delay', { messageId: record.messageId, err: visErr });
    }
    logger.warn('job message failed; will be retried', { ...info, retryInSeconds: backoff });
    throw err;
  }
}

/** The batch: each record on its own, failures reported per item (never the whole batch). */
export function createDispatcher(o: DispatcherOptions = {}) {
  return async (event: SQSEvent, context?: Context) => {
    // In-progress idempotency records expire with this invocation's deadline, so a crashed dispatch is retried.
    if (context) idempotentEffect().config.registerLambdaContext(context);
    // A processor per invocation: it keeps per-batch state, and the local fleet may run invocations concurrently.
    const processor = new BatchProcessor(EventType.SQS);
    return await processPartialResponse(event, (record: SQSRecord) => processRecord(record, o), processor, {
      ...(context ? { context } : {}),
      // A batch where every item failed is still answered item by item, so each keeps its own backoff.
      throwOnFullBatchFailure: false,
    });
  };
}
