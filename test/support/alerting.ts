/**
 * Alerting test plumbing on the emulator: the webhook secret pointing at the local Slack receiver, and
 * "Lambda event source mapping by hand" for the alerts queue: receive → invoke the real forwarder → delete what
 * succeeded (as Lambda's ReportBatchItemFailures does), so a test controls exactly when deliveries happen.
 */
import assert from 'node:assert/strict';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { randomBytes } from 'node:crypto';
import { lambdaContext } from '../../local/lambda-context.js';
import { toRecord } from '../../local/sqs-poller.js';
import { resetWebhookCache } from '../../functions/adapters/slack-webhook.js';
import { AlertEvent } from '../../functions/domain/alerting/event.js';
import { createApiFixture, type ApiFixture } from './api-fixture.js';
import { startSlackReceiver, type SlackReceiver } from './slack-receiver.js';

export async function createWebhookSecret(
  url: string,
  name = `slack-${randomBytes(4).toString('hex')}`,
): Promise<string> {
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
export async function receiveMessages(
  queueUrl: string,
  opts: { max?: number; waitMs?: number; visibilityTimeout?: number } = {},
): Promise<Message[]> {
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
    const { Attributes } = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    return Attributes!.QueueArn!;
  } finally {
    client.destroy();
  }
}

export type ForwarderHandler = (
  event: SQSEvent,
  context: ReturnType<typeof lambdaContext>,
) => Promise<SQSBatchResponse | undefined>;

export interface InvokeResult {
  records: SQSRecord[];
  failedIds: string[];
  error?: Error;
}

/** Invoke the forwarder with these records like Lambda would, then delete the ones that did not fail. */
export async function invokeForwarder(
  handler: ForwarderHandler,
  queueUrl: string,
  records: SQSRecord[],
  timeoutMs = 30_000,
): Promise<InvokeResult> {
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
    for (const r of records)
      if (!failedIds.includes(r.messageId))
        await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: r.receiptHandle }));
  } finally {
    client.destroy();
  }
  return { records, failedIds, error };
}

/** Receive what is on the alerts queue and hand it to the forwarder once. */
export async function deliverPending(
  handler: ForwarderHandler,
  queueUrl: string,
  opts: { max?: number; waitMs?: number; timeoutMs?: number } = {},
): Promise<InvokeResult> {
  const arn = await queueArn(queueUrl);
  const messages = await receiveMessages(queueUrl, { max: opts.max ?? 10, waitMs: opts.waitMs ?? 5000 });
  if (messages.length === 0) return { records: [], failedIds: [] };
  return invokeForwarder(
    handler,
    queueUrl,
    messages.map((m) => toRecord(m, arn)),
    opts.timeoutMs,
  );
}

export function messageAttribute(m: Message, name: string): string | undefined {
  return m.MessageAttributes?.[name]?.StringValue;
}

export const iso = (ms = Date.now()) => new Date(ms).toISOString();
export const running = (name: string) => ({ name, image: `lab/${name}:1`, status: 'running' });

/**
 * The health/alerting end-to-end setup: an API fixture with these env overrides, the local Slack stand-in
 * wired in through a real webhook secret, and devices that report through the real device-api handler
 * (registered on first use, each report with the next sequence number).
 */
export interface AlertingFixture {
  api: ApiFixture;
  slack: SlackReceiver;
  env(name: string): string;
  /** The device's token, registering it through the operator API the first time. */
  device(id: string): Promise<string>;
  /** POST a full report for these services; asserts a 200 and returns the body. */
  report(id: string, services: unknown[]): Promise<any>;
  /** Alert events waiting on the alerts queue (read, then the queue is purged), oldest first. */
  drainAlertEvents(waitMs?: number): Promise<AlertEvent[]>;
  close(): Promise<void>;
}

export async function createAlertingFixture(extraEnv: Record<string, string> = {}): Promise<AlertingFixture> {
  const api = await createApiFixture(extraEnv);
  const slack = await startSlackReceiver({ print: null });
  useWebhookSecret(await createWebhookSecret(slack.url));
  const env = (name: string) => api.infra.env[name]!;
  const seqs = new Map<string, number>();
  const tokens = new Map<string, string>();

  async function device(id: string): Promise<string> {
    if (!tokens.has(id)) tokens.set(id, await api.register(id));
    return tokens.get(id)!;
  }

  return {
    api,
    slack,
    env,
    device,
    async report(id, services) {
      const token = await device(id);
      const seq = (seqs.get(id) ?? 0) + 1;
      seqs.set(id, seq);
      const res = await api.device({
        method: 'POST',
        path: `/v1/devices/${id}/reports`,
        token,
        body: { deviceId: id, seq, kind: 'full', agentVersion: '1.0.0', uptimeSeconds: seq, sentAt: iso(), services },
      });
      assert.equal(res.status, 200, res.raw);
      return res.body;
    },
    async drainAlertEvents(waitMs = 1500) {
      const msgs = await receiveMessages(env('ALERTS_QUEUE_URL'), { max: 10, waitMs });
      const out = msgs.map((m) => AlertEvent.parse(JSON.parse(JSON.parse(m.Body!).Message)));
      const client = sqs();
      try {
        await client.send(new PurgeQueueCommand({ QueueUrl: env('ALERTS_QUEUE_URL') }));
      } finally {
        client.destroy();
      }
      return out;
    },
    async close() {
      await slack.close();
      await api.close();
    },
  };
}
