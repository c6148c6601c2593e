/**
 * Alert delivery to Slack (the slack-forwarder function's work; handlers/slack-forwarder.ts wires it into Lambda):
 * SQS batches from the alerts-delivery queue (subscribed to the alert topic, SNS envelopes kept)
 * → Block Kit messages to the Slack incoming webhook of the alert's channel (by level: domain/alerting/slack-channel.ts;
 * a channel without its own webhook secret uses the default one).
 *
 *  - Exactly once to Slack across redeliveries: delivery is idempotent on the SNS MessageId (Powertools
 *    idempotency, DynamoDB). A redelivered message whose post already succeeded returns the stored result.
 *  - Slack 429/5xx are retried inside the invocation (Retry-After honoured) until the Lambda's deadline; then the
 *    item fails with its visibility set to Retry-After, so SQS offers it again later.
 *  - A malformed SNS message or alert event never fails the batch: it is logged with its reason and moved to the
 *    DLQ at once (with the reason as a message attribute). A message failing on its last allowed receive goes to
 *    the DLQ with its reason too (SQS's own redrive would carry none).
 *  - A missing or invalid webhook secret fails the items of the channels that use it (and only those) with an error
 *    naming the secret to fix; nothing is dropped.
 *  - Traced, but the webhook URL (a credential: its path is the token) never reaches a trace, log, metric or error.
 */
import { BatchProcessor, EventType, FullBatchFailureError, processPartialResponse } from '@aws-lambda-powertools/batch';
import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod/mini';
import { fromRecordAttributes, sendToDeadLetterQueue } from '../adapters/dlq.js';
import { delayRedelivery } from '../adapters/job-queue.js';
import {
  postToSlack,
  resolveWebhook,
  SlackPayloadRejected,
  SlackUnavailable,
  WebhookConfigError,
} from '../adapters/slack-webhook.js';
import { fromCloudWatchAlarm } from '../domain/alerting/cloudwatch.js';
import { ALERT_SCHEMA, AlertEvent } from '../domain/alerting/event.js';
import { slackChannelFor } from '../domain/alerting/slack-channel.js';
import { renderSlackMessage } from '../domain/alerting/slack-message.js';
import { config } from '../lib/config.js';
import { logger, metrics } from '../lib/observability.js';
import { safeParse, type Issue } from '../lib/validation.js';

/** The alerts queue's maxReceiveCount (MAX_RECEIVE_COUNT in infra/spec.ts). */
export const ALERTS_MAX_RECEIVES = 5;
/** Stop retrying Slack this long before the Lambda times out, to leave time to report the failure. */
const DEADLINE_MARGIN_MS = 3000;
/** Idempotency records outlive any redelivery of a delivered message (visibility timeout, redrive). */
const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

/** A message that can never be delivered, whatever the retries: it goes to the DLQ with this reason. */
export class MalformedAlertMessage extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'MalformedAlertMessage';
  }
}

/**
 * The SNS notification inside the SQS body: our own small schema, checked with Powertools' parser like the alert
 * event (lib/validation.ts); the parser's built-in SNS/SQS envelopes would add ~360 KB to this bundle.
 */
const SnsEnvelope = z.object({
  Type: z.literal('Notification'),
  MessageId: z.string().check(z.minLength(1), z.maxLength(200)),
  TopicArn: z.optional(z.string()),
  Message: z.string(),
});

export interface Delivery {
  /** SNS MessageId (or the SQS message id for raw delivery): the idempotency key. */
  MessageId: string;
  event: AlertEvent;
}

function describe(issues: readonly Issue[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}

/** SQS record → the alert to deliver, or MalformedAlertMessage saying precisely what is wrong. */
export function parseDelivery(record: Pick<SQSRecord, 'body' | 'messageId'>, now = Date.now()): Delivery {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    throw new MalformedAlertMessage('SQS body is not JSON (expected an SNS notification envelope)');
  }
  // Raw message delivery switched on by someone: the body is the event itself.
  if (body && typeof body === 'object' && (body as { schema?: unknown }).schema === ALERT_SCHEMA) {
    const raw = safeParse(AlertEvent, body);
    if (!raw.success) throw new MalformedAlertMessage(`invalid alert event: ${describe(raw.issues)}`);
    return { MessageId: record.messageId, event: raw.data };
  }
  const env = safeParse(SnsEnvelope, body);
  if (!env.success) throw new MalformedAlertMessage(`not an SNS notification envelope: ${describe(env.issues)}`);
  let message: unknown;
  try {
    message = JSON.parse(env.data.Message);
  } catch {
    throw new MalformedAlertMessage(
      'SNS Message is not JSON (expected a fleetmedic alert event or a CloudWatch alarm)',
    );
  }
  const alert = safeParse(AlertEvent, message);
  if (alert.success) return { MessageId: env.data.MessageId, event: alert.data };
  const alarm = fromCloudWatchAlarm(message, { notificationId: `alarm:${env.data.MessageId}`, now });
  if (alarm) return { MessageId: env.data.MessageId, event: alarm };
  throw new MalformedAlertMessage(`invalid alert event: ${describe(alert.issues)}`);
}

export interface DeliveryResult {
  delivered: true;
  attempts: number;
  at: string;
}

/** Render and post one alert. `deadlineEpochMs` is not part of the idempotency key (only the first argument is). */
async function deliver(d: Delivery, deadlineEpochMs: number): Promise<DeliveryResult> {
  const hook = await resolveWebhook(slackChannelFor(d.event.level));
  const payload = renderSlackMessage(d.event, { runbookBaseUrl: config.runbookBaseUrl });
  const r = await postToSlack(hook.url, payload, { deadline: deadlineEpochMs, secretId: hook.secretId });
  metrics.addMetric('slack_post_attempts', MetricUnit.Count, r.attempts);
  logger.info('alert delivered to Slack', {
    messageId: d.MessageId,
    dedupeKey: d.event.dedupeKey,
    status: d.event.status,
    severity: d.event.severity,
    level: d.event.level,
    channel: hook.channel,
    webhookSecretId: hook.secretId,
    attempts: r.attempts,
    correlationId: d.event.correlationId,
  });
  return { delivered: true, attempts: r.attempts, at: new Date().toISOString() };
}

let idempotencyConfig: IdempotencyConfig | undefined;
let deliverOnce: ((d: Delivery, deadline: number) => Promise<DeliveryResult>) | undefined;

/** Built on first use so a missing IDEMPOTENCY_TABLE fails the invocation with a clear message, not the import. */
function idempotentDeliver() {
  if (!deliverOnce) {
    idempotencyConfig = new IdempotencyConfig({
      eventKeyJmesPath: 'MessageId',
      expiresAfterSeconds: IDEMPOTENCY_TTL_SECONDS,
      throwOnNoIdempotencyKey: true,
    });
    deliverOnce = makeIdempotent(deliver, {
      persistenceStore: new DynamoDBPersistenceLayer({ tableName: config.idempotencyTable }),
      config: idempotencyConfig,
      dataIndexArgument: 0,
    });
  }
  return deliverOnce;
}

export type RecordOutcome = DeliveryResult | { deadLettered: true; reason: string };

async function deadLetter(record: SQSRecord, reason: string, receiveCount: number): Promise<RecordOutcome> {
  await sendToDeadLetterQueue({
    dlqUrl: config.alertsDlqUrl,
    sourceQueue: config.alertsQueueUrl,
    body: record.body,
    attributes: fromRecordAttributes(record.messageAttributes),
    reason,
    receiveCount,
    now: Date.now(),
  });
  metrics.addMetric('alerts_dead_lettered', MetricUnit.Count, 1);
  return { deadLettered: true, reason };
}

async function handleRecord(record: SQSRecord, context: Context | undefined): Promise<RecordOutcome> {
  const receiveCount = Number(record.attributes?.ApproximateReceiveCount ?? '1') || 1;
  let delivery: Delivery;
  try {
    delivery = parseDelivery(record);
  } catch (err) {
    if (!(err instanceof MalformedAlertMessage)) throw err;
    logger.error('malformed alert message: moved to the DLQ', { sqsMessageId: record.messageId, reason: err.message });
    return deadLetter(record, `malformed: ${err.message}`, receiveCount);
  }
  const remaining = context?.getRemainingTimeInMillis?.() ?? 30_000;
  const deadline = Date.now() + Math.max(0, remaining - DEADLINE_MARGIN_MS);
  try {
    return await idempotentDeliver()(delivery, deadline);
  } catch (err) {
    const reason = `${(err as Error).name}: ${(err as Error).message}`;
    const fields = {
      messageId: delivery.MessageId,
      dedupeKey: delivery.event.dedupeKey,
      receiveCount,
      reason,
      correlationId: delivery.event.correlationId,
    };
    if (err instanceof SlackPayloadRejected) {
      logger.error('Slack rejected the alert payload: moved to the DLQ', fields);
      return deadLetter(record, reason, receiveCount);
    }
    if (err instanceof WebhookConfigError)
      logger.error('Slack webhook is not usable – fix the secret named in the reason', {
        ...fields,
        webhookSecretId: err.secretId,
      });
    else if (err instanceof IdempotencyAlreadyInProgressError)
      logger.warn('alert is being delivered by another invocation; retry later', fields);
    else logger.warn('alert delivery failed; SQS will redeliver', fields);
    if (receiveCount >= ALERTS_MAX_RECEIVES) {
      logger.error('alert delivery failed on its last allowed receive: moved to the DLQ', fields);
      return deadLetter(record, reason, receiveCount);
    }
    if (err instanceof SlackUnavailable) {
      // Come back when Slack asked us to, not after the queue's full visibility timeout.
      await delayRedelivery(record.receiptHandle, err.retryAfterSeconds, config.alertsQueueUrl).catch((e) =>
        logger.warn('could not shorten the redelivery delay', { error: (e as Error).message }),
      );
    }
    throw err;
  }
}

const processor = new BatchProcessor(EventType.SQS);

export async function forwardAlerts(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  idempotentDeliver();
  idempotencyConfig!.registerLambdaContext(context);
  try {
    // One at a time: Slack allows about one message per second per webhook, and order helps the reader.
    return await processPartialResponse(event, (record: SQSRecord) => handleRecord(record, context), processor, {
      context,
      processInParallel: false,
    });
  } catch (err) {
    // Every record failed (the whole batch goes back to the queue). When they all failed for the same
    // configuration reason (e.g. the webhook secret is missing), say that instead of "all records failed".
    const configError =
      err instanceof FullBatchFailureError ? err.recordErrors.find((e) => e instanceof WebhookConfigError) : undefined;
    if (configError && (err as FullBatchFailureError).recordErrors.every((e) => e instanceof WebhookConfigError))
      throw configError;
    throw err;
  }
}
