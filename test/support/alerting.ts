/**
 * Alerting test plumbing on the emulator: the webhook secret pointing at the local Slack receiver, and
 * "Lambda event source mapping by hand" for the alerts queue: receive → invoke the real forwarder → delete what
 * succeeded (as Lambda's ReportBatchItemFailures does), so a test controls exactly when deliveries happen.
 */
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { randomBytes } from 'node:crypto';
import { lambdaContext } from '../../local/lambda-context.js';
import { toRecord } from '../../local/sqs-poller.js';
import { resetWebhookCache } from '../../functions/adapters/slack-webhook.js';

export async function createWebhookSecret(url: string, name = `slack-${randomBytes(4).toString('hex')}`): Promise<string> {
  const sm = new SecretsManagerClient({});
  try {
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: url }));
  } finally {
    sm.destroy();
  }
  return name;
}

/** Point the forwarder at a secret (id or `ssm:/name`) and forget any cached URL. */
export function useWebhookSecret(secretId: string | undefined): void {
  if (secretId === undefined) delete process.env.SLACK_WEBHOOK_SECRET_ID;
  else process.env.SLACK_WEBHOOK_SECRET_ID = secretId;
  resetWebhookCache();
}

const sqs = () => new SQSClient({});

/** Receive up to `max` messages (waiting up to `waitMs` for the first ones to arrive). */
export async function receiveMessages(queueUrl: string, opts: { max?: number; waitMs?: number; visibilityTimeout?: number } = {}): Promise<Message[]> {
  const client = sqs();
  const out: Message[] = [];
  const deadline = Date.now() + (opts.waitMs ?? 5000);
  try {
    while (out.length < (opts.max ?? 10) && Date.now() < deadline) {
      const { Messages } = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(10, (opts.max ?? 10) - out.length),
          WaitTimeSeconds: 1,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
          ...(opts.visibilityTimeout !== undefined ? { VisibilityTimeout: opts.visibilityTimeout } : {}),
        }),
      );
      if (Messages?.length) out.push(...Messages);
      else if (out.length) break;
    }
  } finally {
    client.destroy();
  }
  return out;
}

export async function queueArn(queueUrl: string): Promise<string> {
  const client = sqs();
  try {
    const { Attributes } = await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
    return Attributes!.QueueArn!;
  } finally {
    client.destroy();
  }
}

export type ForwarderHandler = (event: SQSEvent, context: ReturnType<typeof lambdaContext>) => Promise<SQSBatchResponse | void>;

export interface InvokeResult {
  records: SQSRecord[];
  failedIds: string[];
  error?: Error;
}

/** Invoke the forwarder with these records like Lambda would, then delete the ones that did not fail. */
export async function invokeForwarder(handler: ForwarderHandler, queueUrl: string, records: SQSRecord[], timeoutMs = 30_000): Promise<InvokeResult> {
  let failedIds: string[];
  let error: Error | undefined;
  try {
    const res = await handler({ Records: records }, lambdaContext('slack-forwarder', timeoutMs));
    failedIds = (res?.batchItemFailures ?? []).map((f) => f.itemIdentifier);
  } catch (err) {
    // A thrown error fails the whole batch (Lambda retries every record).
    error = err as Error;
    failedIds = records.map((r) => r.messageId);
  }
  const client = sqs();
  try {
    for (const r of records) if (!failedIds.includes(r.messageId)) await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: r.receiptHandle }));
  } finally {
    client.destroy();
  }
  return { records, failedIds, error };
}

/** Receive what is on the alerts queue and hand it to the forwarder once. */
export async function deliverPending(handler: ForwarderHandler, queueUrl: string, opts: { max?: number; waitMs?: number; timeoutMs?: number } = {}): Promise<InvokeResult> {
  const arn = await queueArn(queueUrl);
  const messages = await receiveMessages(queueUrl, { max: opts.max ?? 10, waitMs: opts.waitMs ?? 5000 });
  if (messages.length === 0) return { records: [], failedIds: [] };
  return invokeForwarder(handler, queueUrl, messages.map((m) => toRecord(m, arn)), opts.timeoutMs);
}

export function messageAttribute(m: Message, name: string): string | undefined {
  return m.MessageAttributes?.[name]?.StringValue;
}
