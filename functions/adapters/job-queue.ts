/**
 * Publishing jobs to the SQS jobs queue (transactional outbox: the job is written first as `unpublished`;
 * this moves it onto the queue and then marks it published). A crash between the two leaves the job in the
 * outbox and the outbox publisher sends it again; the dispatcher tolerates the duplicate (idempotent by jobId).
 */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Job } from '../contract/jobs.js';
import { sqsClient } from '../lib/aws.js';
import { config } from '../lib/config.js';
import { markPublished } from './jobs-repo.js';

/** The queue message body: just enough to route; the dispatcher re-reads the job record. */
export interface JobMessage {
  jobId: string;
  deviceId: string;
  type: string;
  correlationId: string;
}

export async function sendJobMessage(job: Pick<Job, 'jobId' | 'deviceId' | 'type' | 'correlationId'>): Promise<string | undefined> {
  const body: JobMessage = { jobId: job.jobId, deviceId: job.deviceId, type: job.type, correlationId: job.correlationId };
  const res = await sqsClient().send(
    new SendMessageCommand({
      QueueUrl: config.jobsQueueUrl,
      MessageBody: JSON.stringify(body),
      MessageAttributes: { correlationId: { DataType: 'String', StringValue: job.correlationId } },
    }),
  );
  return res.MessageId;
}

/** Send the job's message, then take it off the outbox. Throws if sending fails (the outbox keeps it). */
export async function publishJob(job: Pick<Job, 'jobId' | 'deviceId' | 'type' | 'correlationId'>): Promise<{ messageId?: string; marked: boolean }> {
  const messageId = await sendJobMessage(job);
  const marked = await markPublished(job.jobId);
  return { messageId, marked };
}
