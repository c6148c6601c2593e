/**
 * The SQS jobs queue: job messages (one or a batch of ten), held-job re-sends, visibility backoff, its redrive
 * limit. Taking a job
 * off the outbox once its message is sent is services/job-publishing.ts.
 */
import {
  ChangeMessageVisibilityCommand,
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type MessageAttributeValue,
} from '@aws-sdk/client-sqs';
import type { Job } from '../contract/jobs.js';
import { sqsClient } from '../lib/aws.js';
import { config } from '../lib/config.js';

/** The queue message body: just enough to route; the dispatcher re-reads the job record. */
export interface JobMessage {
  jobId: string;
  deviceId: string;
  type: string;
  correlationId: string;
  /** Which attempt this message delivers (a retry re-publishes the same job id with attempt n+1). */
  attempt?: number;
}

export type Publishable = Pick<Job, 'jobId' | 'deviceId' | 'type' | 'correlationId'> & { attempt?: number };

export function messageOf(job: Publishable): { body: string; attributes: Record<string, MessageAttributeValue> } {
  const body: JobMessage = {
    jobId: job.jobId,
    deviceId: job.deviceId,
    type: job.type,
    correlationId: job.correlationId,
  };
  if (job.attempt !== undefined) body.attempt = job.attempt;
  return {
    body: JSON.stringify(body),
    attributes: { correlationId: { DataType: 'String', StringValue: job.correlationId } },
  };
}

export async function sendJobMessage(
  job: Publishable,
  opts: { delaySeconds?: number } = {},
): Promise<string | undefined> {
  const { body, attributes } = messageOf(job);
  const res = await sqsClient().send(
    new SendMessageCommand({
      QueueUrl: config.jobsQueueUrl,
      MessageBody: body,
      MessageAttributes: attributes,
      ...(opts.delaySeconds ? { DelaySeconds: opts.delaySeconds } : {}),
    }),
  );
  return res.MessageId;
}

// ---- batch publishing, held-job re-sends, visibility backoff ----

/** SQS takes at most 10 entries per SendMessageBatch. */
export const SQS_BATCH = 10;

/**
 * Send up to 10 job messages in one call. Answers which job ids were accepted; a partially failed batch is
 * normal SQS behaviour (per-entry errors), the failed ones stay in the outbox for the next run.
 */
export async function sendJobMessages(
  jobs: { job: Publishable; delaySeconds?: number }[],
): Promise<{ sent: string[]; failed: { jobId: string; error: string }[] }> {
  if (jobs.length === 0) return { sent: [], failed: [] };
  if (jobs.length > SQS_BATCH) throw new Error(`sendJobMessages takes at most ${SQS_BATCH} jobs`);
  const res = await sqsClient().send(
    new SendMessageBatchCommand({
      QueueUrl: config.jobsQueueUrl,
      Entries: jobs.map(({ job, delaySeconds }, i) => {
        const { body, attributes } = messageOf(job);
        return {
          Id: String(i),
          MessageBody: body,
          MessageAttributes: attributes,
          ...(delaySeconds ? { DelaySeconds: delaySeconds } : {}),
        };
      }),
    }),
  );
  const sent = (res.Successful ?? []).map((s) => jobs[Number(s.Id)]!.job.jobId);
  const failed = (res.Failed ?? []).map((f) => ({
    jobId: jobs[Number(f.Id)]!.job.jobId,
    error: `${f.Code}: ${f.Message ?? ''}`,
  }));
  return { sent, failed };
}

/**
 * Re-send a message as a fresh copy after `delaySeconds` (max 900). Used to hold a job while its device's circuit
 * is open: the copy starts again at receive count 0, so holding never pushes a healthy job towards the DLQ.
 */
export async function resendJobMessage(
  body: string,
  attributes: Record<string, MessageAttributeValue>,
  delaySeconds: number,
): Promise<void> {
  await sqsClient().send(
    new SendMessageCommand({
      QueueUrl: config.jobsQueueUrl,
      MessageBody: body,
      MessageAttributes: attributes,
      DelaySeconds: Math.max(0, Math.min(900, delaySeconds)),
    }),
  );
}

/** Back off a failed message: SQS offers it again after `seconds` instead of the queue's visibility timeout. */
export async function delayRedelivery(
  receiptHandle: string,
  seconds: number,
  queueUrl = config.jobsQueueUrl,
): Promise<void> {
  await sqsClient().send(
    new ChangeMessageVisibilityCommand({
      QueueUrl: queueUrl,
      ReceiptHandle: receiptHandle,
      VisibilityTimeout: Math.max(0, Math.round(seconds)),
    }),
  );
}

let maxReceiveCount: Promise<number> | undefined;

/** The jobs queue's RedrivePolicy maxReceiveCount, read once per process; 5 when it cannot be read (tried again next time). */
export async function jobsQueueMaxReceiveCount(): Promise<number> {
  maxReceiveCount ??= sqsClient()
    .send(new GetQueueAttributesCommand({ QueueUrl: config.jobsQueueUrl, AttributeNames: ['RedrivePolicy'] }))
    .then((r) => Number(JSON.parse(r.Attributes?.RedrivePolicy ?? '{}').maxReceiveCount) || 5)
    .catch(() => {
      maxReceiveCount = undefined;
      return 5;
    });
  return await maxReceiveCount;
}
