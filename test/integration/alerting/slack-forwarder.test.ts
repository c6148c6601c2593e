/**
 * The Slack forwarder against moto (SNS → SQS alerts queue → DLQ, idempotency table, Secrets Manager, SSM) and a
 * real local HTTP server standing in for Slack.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { PurgeQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { createTestInfra, type TestInfra } from '../../support/infra.js';
import { startSlackReceiver, type SlackReceiver } from '../../support/slack-receiver.js';
import {
  createWebhookSecret,
  deliverPending,
  invokeForwarder,
  messageAttribute,
  queueArn,
  receiveMessages,
  useWebhookSecret,
} from '../../support/alerting.js';
import { toRecord } from '../../../local/sqs-poller.js';
import { publishAlertEvent } from '../../../functions/adapters/alert-publication.js';
import { toAlertEvent, type AlertEvent } from '../../../functions/domain/alerting/event.js';
import { resolveWebhookUrl, WebhookConfigError } from '../../../functions/adapters/slack-webhook.js';
import { handler } from '../../../functions/handlers/slack-forwarder.js';
import { parseDelivery } from '../../../functions/services/slack-delivery.js';

let infra: TestInfra;
let slack: SlackReceiver;
let secretId: string;
const sns = new SNSClient({});
const sqs = new SQSClient({});

function alert(n: number, over: Partial<Parameters<typeof toAlertEvent>[0]> = {}): AlertEvent {
  return toAlertEvent(
    {
      alertName: 'ServiceCrashLoop',
      level: 2,
      deviceId: `dev-${n}`,
      service: 'mosquitto',
      summary: `crash loop #${n}`,
      since: Date.now() - 60_000,
      correlationId: `corr-${n}`,
      ...over,
    },
    { notificationId: `n-${n}-${Date.now()}`, now: Date.now() },
  );
}

before(async () => {
  infra = await createTestInfra();
  slack = await startSlackReceiver({ print: null });
  secretId = await createWebhookSecret(slack.url);
});
after(async () => {
  await slack.close();
  await infra.close();
});
beforeEach(async () => {
  useWebhookSecret(secretId);
  await sqs.send(new PurgeQueueCommand({ QueueUrl: infra.env.ALERTS_QUEUE_URL! }));
  await sqs.send(new PurgeQueueCommand({ QueueUrl: infra.env.ALERTS_DLQ_URL! }));
});

/** Use up scripted failures a test did not consume (the receiver answers them in order). */
async function drainScript() {
  for (let i = 0; i < 50; i++) {
    const res = await fetch(slack.url, { method: 'POST', body: JSON.stringify({ text: 'drain' }) });
    if (res.status === 200) return;
  }
}

describe('delivery', () => {
  test('an alert published to the topic arrives in Slack as Block Kit, with its facts', async () => {
    const e = alert(1, { tried: ['cloud: restart-service #1'] });
    await publishAlertEvent(e);
    const r = await deliverPending(handler, infra.env.ALERTS_QUEUE_URL!);
    assert.equal(r.records.length, 1);
    assert.deepEqual(r.failedIds, []);
    const m = await slack.waitFor((x) => x.text.includes('crash loop #1'));
    assert.match(m.text, /WARNING ServiceCrashLoop · mosquitto on dev-1/);
    assert.match(m.text, /restart-service #1/);
    assert.match(m.text, /corr-1/);
    assert.equal(m.payload.attachments?.[0]?.color, '#f2c744');
  });

  test('Slack answering 500 then 200 gets the message exactly once, also across a redelivery', async () => {
    const before = slack.requests.length;
    slack.script({ status: 500 }, { status: 200 });
    await publishAlertEvent(alert(2));
    const arn = await queueArn(infra.env.ALERTS_QUEUE_URL!);
    const [msg] = await receiveMessages(infra.env.ALERTS_QUEUE_URL!, { max: 1 });
    const record = toRecord(msg!, arn);
    const first = await invokeForwarder(handler, infra.env.ALERTS_QUEUE_URL!, [record]);
    assert.deepEqual(first.failedIds, []);
    assert.deepEqual(
      slack.requests.slice(before).map((x) => x.status),
      [500, 200],
    );
    // SQS delivers at least once: the same message again (e.g. the delete was lost) posts nothing new.
    const again = await invokeForwarder(handler, infra.env.ALERTS_QUEUE_URL!, [record]);
    assert.deepEqual(again.failedIds, []);
    assert.equal(slack.requests.length, before + 2);
    assert.equal(slack.messages.filter((x) => x.text.includes('crash loop #2')).length, 1);
  });

  test('429 with Retry-After is honoured before the next attempt', async () => {
    const before = slack.requests.length;
    slack.script({ status: 429, retryAfter: 1 });
    await publishAlertEvent(alert(3));
    const r = await deliverPending(handler, infra.env.ALERTS_QUEUE_URL!);
    assert.deepEqual(r.failedIds, []);
    const reqs = slack.requests.slice(before);
    assert.deepEqual(
      reqs.map((x) => x.status),
      [429, 200],
    );
    assert.ok(
      reqs[1]!.receivedAt - reqs[0]!.receivedAt >= 950,
      `waited ${reqs[1]!.receivedAt - reqs[0]!.receivedAt} ms`,
    );
  });

  test('a Retry-After beyond the Lambda deadline fails the item and delays its redelivery by Retry-After', async () => {
    const before = slack.requests.length;
    slack.script({ status: 429, retryAfter: 30 });
    await publishAlertEvent(alert(4));
    const r = await deliverPending(handler, infra.env.ALERTS_QUEUE_URL!, { timeoutMs: 5000 });
    assert.equal(r.failedIds.length, 1, 'the item failed (back to the queue)');
    assert.equal(slack.requests.length, before + 1, 'no second attempt inside this invocation');
    // Not visible again right away (queue visibility would be 180 s; Retry-After set it to 30 s).
    assert.equal((await receiveMessages(infra.env.ALERTS_QUEUE_URL!, { waitMs: 1500 })).length, 0);
    assert.equal(slack.messages.filter((x) => x.text.includes('crash loop #4')).length, 0);
  });

  test('Slack 5xx on every attempt: bounded retries, the item fails, and on its last receive it goes to the DLQ with the reason', async () => {
    slack.script(...Array.from({ length: 20 }, () => ({ status: 503 })));
    await publishAlertEvent(alert(5));
    const arn = await queueArn(infra.env.ALERTS_QUEUE_URL!);
    const [msg] = await receiveMessages(infra.env.ALERTS_QUEUE_URL!, { max: 1 });
    const record = toRecord(msg!, arn);
    const before = slack.requests.length;
    const r = await invokeForwarder(handler, infra.env.ALERTS_QUEUE_URL!, [record], 8000);
    assert.equal(r.failedIds.length, 1);
    assert.ok(
      slack.requests.length - before >= 2 && slack.requests.length - before <= 6,
      `bounded attempts: ${slack.requests.length - before}`,
    );
    const last = { ...record, attributes: { ...record.attributes, ApproximateReceiveCount: '5' } };
    const r2 = await invokeForwarder(handler, infra.env.ALERTS_QUEUE_URL!, [last], 8000);
    assert.deepEqual(r2.failedIds, [], 'moved to the DLQ, so the source message is deleted');
    const [dead] = await receiveMessages(infra.env.ALERTS_DLQ_URL!, { max: 1 });
    assert.match(
      messageAttribute(dead!, 'failureReason') ?? '',
      /SlackUnavailable: Slack unavailable after \d+ attempt\(s\): 503/,
    );
    await drainScript();
  });
});

describe('bad input', () => {
  test('malformed SNS message, non-SNS body and invalid alert event: each logged with its reason into the DLQ, the good one still delivered', async () => {
    await sns.send(new PublishCommand({ TopicArn: infra.env.ALERT_TOPIC_ARN!, Message: 'hello, not json' }));
    await sns.send(
      new PublishCommand({
        TopicArn: infra.env.ALERT_TOPIC_ARN!,
        Message: JSON.stringify({ ...alert(6), severity: 'LOUD' }),
      }),
    );
    await sqs.send(new SendMessageCommand({ QueueUrl: infra.env.ALERTS_QUEUE_URL!, MessageBody: '{"foo":1}' }));
    await publishAlertEvent(alert(7));
    const r = await deliverPending(handler, infra.env.ALERTS_QUEUE_URL!, { max: 4 });
    assert.equal(r.records.length, 4);
    assert.deepEqual(r.failedIds, [], 'no item fails: bad ones are dead-lettered, the good one delivered');
    await slack.waitFor((x) => x.text.includes('crash loop #7'));
    const dead = await receiveMessages(infra.env.ALERTS_DLQ_URL!, { max: 3 });
    const reasons = dead.map((m) => messageAttribute(m, 'failureReason')).sort();
    assert.equal(reasons.length, 3);
    assert.match(reasons.join('\n'), /malformed: SNS Message is not JSON/);
    assert.match(reasons.join('\n'), /malformed: invalid alert event: severity: /);
    assert.match(reasons.join('\n'), /malformed: not an SNS notification envelope: /);
    assert.ok(dead.every((m) => messageAttribute(m, 'failedAt')));
  });

  test('parseDelivery names the problem precisely', () => {
    assert.throws(() => parseDelivery({ body: 'x', messageId: 'm' }), /SQS body is not JSON/);
    assert.throws(
      () =>
        parseDelivery({
          body: JSON.stringify({ Type: 'Notification', MessageId: 'a', Message: '{"schema":"fleetmedic.alert.v1"}' }),
          messageId: 'm',
        }),
      /invalid alert event: /,
    );
    const raw = parseDelivery({ body: JSON.stringify(alert(8)), messageId: 'sqs-1' });
    assert.equal(raw.MessageId, 'sqs-1', 'raw message delivery is understood too');
  });

  test('a CloudWatch alarm published to the topic is delivered as an alert', async () => {
    await sns.send(
      new PublishCommand({
        TopicArn: infra.env.ALERT_TOPIC_ARN!,
        Message: JSON.stringify({
          AlarmName: 'fleetmedic-DeadLetters',
          NewStateValue: 'ALARM',
          NewStateReason: 'depth 3 > 0',
          StateChangeTime: new Date().toISOString(),
        }),
      }),
    );
    const r = await deliverPending(handler, infra.env.ALERTS_QUEUE_URL!);
    assert.deepEqual(r.failedIds, []);
    const m = await slack.waitFor((x) => x.text.includes('fleetmedic-DeadLetters'));
    assert.match(m.text, /CRITICAL DeadLetters/);
  });

  test("a function's error alarm reaches Slack too, not the DLQ", async () => {
    await sns.send(
      new PublishCommand({
        TopicArn: infra.env.ALERT_TOPIC_ARN!,
        Message: JSON.stringify({
          AlarmName: 'fleetmedic-dev-Errors-device-api',
          NewStateValue: 'ALARM',
          NewStateReason: 'Threshold Crossed: 1 datapoint [2.0] was greater than the threshold (0.0).',
          StateChangeTime: new Date().toISOString(),
        }),
      }),
    );
    const r = await deliverPending(handler, infra.env.ALERTS_QUEUE_URL!);
    assert.deepEqual(r.failedIds, []);
    const m = await slack.waitFor((x) => x.text.includes('fleetmedic-dev-Errors-device-api'));
    assert.match(m.text, /WARNING FunctionErrors/);
    const dead = await receiveMessages(infra.env.ALERTS_DLQ_URL!, { max: 10, waitMs: 1000 });
    assert.ok(!dead.some((d) => d.Body?.includes('Errors-device-api')), 'not dead-lettered');
  });

  test('Slack rejecting the payload (400) dead-letters it at once', async () => {
    slack.script({ status: 400, body: 'invalid_blocks' });
    await publishAlertEvent(alert(9));
    const r = await deliverPending(handler, infra.env.ALERTS_QUEUE_URL!);
    assert.deepEqual(r.failedIds, []);
    const [dead] = await receiveMessages(infra.env.ALERTS_DLQ_URL!, { max: 1 });
    assert.match(
      messageAttribute(dead!, 'failureReason') ?? '',
      /SlackPayloadRejected: Slack rejected the message: 400 invalid_blocks/,
    );
  });
});

describe('webhook secret', () => {
  test('missing secret: a clear error, and the message goes back to the queue (not dropped)', async () => {
    useWebhookSecret('does-not-exist');
    await assert.rejects(
      resolveWebhookUrl(),
      (err: Error) =>
        err instanceof WebhookConfigError &&
        /Slack webhook secret does-not-exist could not be read: ResourceNotFoundException/.test(err.message),
    );
    await publishAlertEvent(alert(10));
    const r = await deliverPending(handler, infra.env.ALERTS_QUEUE_URL!);
    assert.equal(r.failedIds.length, 1);
    assert.ok(r.error instanceof WebhookConfigError, 'the invocation fails with the configuration error itself');
    assert.match(r.error.message, /Slack webhook secret does-not-exist could not be read: ResourceNotFoundException/);
    // Fixed secret → the same message is delivered on its redelivery.
    useWebhookSecret(secretId);
    const retry = { ...r.records[0]!, attributes: { ...r.records[0]!.attributes, ApproximateReceiveCount: '2' } };
    const r2 = await invokeForwarder(handler, infra.env.ALERTS_QUEUE_URL!, [retry]);
    assert.deepEqual(r2.failedIds, []);
    await slack.waitFor((x) => x.text.includes('crash loop #10'));
  });

  test('unset variable, empty/invalid values and remote plain http are clear configuration errors', async () => {
    useWebhookSecret(undefined);
    await assert.rejects(resolveWebhookUrl(), /SLACK_WEBHOOK_SECRET_ID is not set .*never a plain variable/);
    useWebhookSecret(await createWebhookSecret('not a url'));
    await assert.rejects(resolveWebhookUrl(), /is not a URL/);
    useWebhookSecret(await createWebhookSecret('http://hooks.example.com/services/x'));
    await assert.rejects(resolveWebhookUrl(), /must be an https URL/);
    useWebhookSecret(await createWebhookSecret(JSON.stringify({ url: 'https://hooks.slack.com/services/T/B/C' })));
    assert.equal((await resolveWebhookUrl()).hostname, 'hooks.slack.com');
  });

  test('ssm:/name reads an SSM SecureString', async () => {
    const ssm = new SSMClient({});
    const name = `/${infra.prefix}/slack-webhook`;
    await ssm.send(new PutParameterCommand({ Name: name, Value: slack.url, Type: 'SecureString' }));
    useWebhookSecret(`ssm:${name}`);
    await publishAlertEvent(alert(11));
    const r = await deliverPending(handler, infra.env.ALERTS_QUEUE_URL!);
    assert.deepEqual(r.failedIds, []);
    await slack.waitFor((x) => x.text.includes('crash loop #11'));
    ssm.destroy();
  });
});
