/**
 * The Lambda SQS event source mapping, one step at a time, for tests that need to control deliveries:
 * receive real messages from moto, hand them to the real handler as an SQS event (local/sqs-poller's record
 * mapping), delete what the handler did not report as failed — exactly what the ESM does, minus the loop.
 */
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { parseBatchResponse, toRecord } from '../../../../local/sqs-poller.js';
import { lambdaContext } from '../../../../local/lambda-context.js';

export type SqsHandler = (event: SQSEvent, context: any) => Promise<unknown>;

const arns = new Map<string, string>();
export async function queueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  let arn = arns.get(queueUrl);
  if (!arn) {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    arn = Attributes!.QueueArn!;
    arns.set(queueUrl, arn);
  }
  return arn;
}

export async function receive(
  sqs: SQSClient,
  queueUrl: string,
  opts: { max?: number; waitSeconds?: number; visibility?: number } = {},
): Promise<Message[]> {
  const { Messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: Math.min(10, opts.max ?? 10),
      WaitTimeSeconds: opts.waitSeconds ?? 0,
      ...(opts.visibility !== undefined ? { VisibilityTimeout: opts.visibility } : {}),
      MessageAttributeNames: ['All'],
      MessageSystemAttributeNames: ['All'],
    }),
  );
  return Messages;
}

export interface Delivery {
  failed: Set<string>;
  deleted: number;
  response: unknown;
}

/** Invoke the handler with these messages as one batch; delete the successes unless `keep`. */
export async function deliver(
  sqs: SQSClient,
  queueUrl: string,
  handler: SqsHandler,
  messages: Message[],
  opts: { keep?: boolean } = {},
): Promise<Delivery> {
  const arn = await queueArn(sqs, queueUrl);
  const event: SQSEvent = { Records: messages.map((m) => toRecord(m, arn)) };
  const response = await handler(event, lambdaContext('job-dispatcher', 60_000));
  const parsed = parseBatchResponse(response, new Set(messages.map((m) => m.MessageId!)));
  if (parsed === 'invalid') throw new Error(`invalid batch response: ${JSON.stringify(response)}`);
  const done = messages.filter((m) => !parsed.has(m.MessageId!));
  if (!opts.keep) {
    for (let i = 0; i < done.length; i += 10) {
      const chunk = done.slice(i, i + 10);
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
    }
  }
  return { failed: parsed, deleted: opts.keep ? 0 : done.length, response };
}

/** Receive and deliver until the queue answers empty (bounded). Returns how many messages were handled. */
export async function drain(sqs: SQSClient, queueUrl: string, handler: SqsHandler, maxRounds = 50): Promise<number> {
  let handled = 0;
  for (let round = 0; round < maxRounds; round++) {
    const messages = await receive(sqs, queueUrl, { waitSeconds: round === 0 ? 1 : 0 });
    if (messages.length === 0) return handled;
    await deliver(sqs, queueUrl, handler, messages);
    handled += messages.length;
  }
  return handled;
}

export async function depth(
  sqs: SQSClient,
  queueUrl: string,
): Promise<{ visible: number; inFlight: number; delayed: number }> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}
