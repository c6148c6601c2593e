/**
 * Slack channels by level on moto (docs/runbook.md "How alerts reach you"): three webhook secrets in Secrets
 * Manager pointing at three paths of the local Slack receiver; alerts published to the real topic, delivered by the
 * real forwarder. CRITICAL and WARNING land on their own channels, INFO (level 1) on the default one, and a resolution
 * (INFO) on the channel of the alert it resolves. A level without its own secret falls back to the default webhook;
 * a configured channel secret that is missing fails only that channel's items, naming the secret, never a URL.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { PurgeQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { publishAlertEvent } from '../../../functions/adapters/alert-publication.js';
import { resetWebhookCache, resolveWebhook, WebhookConfigError } from '../../../functions/adapters/slack-webhook.js';
import { decideRaise, resolvedEvent } from '../../../functions/domain/alerting/dedupe.js';
import { type AlertInput, toAlertEvent } from '../../../functions/domain/alerting/event.js';
import { handler } from '../../../functions/handlers/slack-forwarder.js';
import { createWebhookSecret, deliverPending, invokeForwarder, useWebhookSecret } from '../../support/alerting.js';
import { createTestInfra, type TestInfra } from '../../support/infra.js';
import { startSlackReceiver, type SlackReceiver } from '../../support/slack-receiver.js';

const CRITICAL_ENV = 'SLACK_WEBHOOK_CRITICAL_SECRET_ID';
const WARNING_ENV = 'SLACK_WEBHOOK_WARNING_SECRET_ID';

let infra: TestInfra;
let slack: SlackReceiver;
const secrets = { default: '', critical: '', warning: '' };
const sqs = new SQSClient({});
let n = 0;

/** Point the forwarder at these channel secrets (undefined: not configured) and forget cached URLs. */
function useChannels(critical: string | undefined, warning: string | undefined) {
  for (const [k, v] of [
    [CRITICAL_ENV, critical],
    [WARNING_ENV, warning],
  ] as const)
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  resetWebhookCache();
}

function input(level: 2 | 3, summary: string): AlertInput {
  return {
    alertName: 'ServiceCrashLoop',
    level,
    deviceId: `dev-ch-${++n}`,
    service: 'web',
    summary,
    since: Date.now() - 60_000,
  };
}
const firing = (i: AlertInput) => toAlertEvent(i, { notificationId: `ch-${++n}-${Date.now()}`, now: Date.now() });
/** The resolution of `raised`, as resolveAlert publishes it (INFO, the alert's level). */
const resolutionOf = (raised: AlertInput, summary: string) =>
  resolvedEvent(decideRaise(undefined, raised, Date.now() - 30_000).record, {
    notificationId: `ch-res-${++n}`,
    now: Date.now(),
    summary,
  });
/** A level 1 INFO event (what the daily summary publishes). */
const info = (summary: string) => ({ ...firing(input(2, summary)), level: 1 as const, severity: 'INFO' as const });

/** Deliver what is queued; every item delivered or failed, nothing left behind. */
async function deliverAll(expected: number) {
  const failed: string[] = [];
  const records: SQSRecord[] = [];
  let seen = 0;
  let error: Error | undefined;
  for (let i = 0; i < 10 && seen < expected; i++) {
    const r = await deliverPending(handler, infra.env.ALERTS_QUEUE_URL!, { waitMs: 5000 });
    seen += r.records.length;
    records.push(...r.records);
    failed.push(...r.failedIds);
    error ??= r.error;
  }
  assert.equal(seen, expected, 'every published alert reached the forwarder');
  return { failed, error, records };
}
const channelOf = (summary: string) => slack.messages.filter((m) => m.text.includes(summary)).map((m) => m.channel);

before(async () => {
  infra = await createTestInfra({ POWERTOOLS_LOG_LEVEL: 'CRITICAL', POWERTOOLS_METRICS_DISABLED: 'true' });
  slack = await startSlackReceiver({ print: null });
  secrets.default = await createWebhookSecret(slack.url);
  secrets.critical = await createWebhookSecret(slack.channelUrl('critical'));
  secrets.warning = await createWebhookSecret(slack.channelUrl('warning'));
});
after(async () => {
  useChannels(undefined, undefined);
  await slack.close();
  await infra.close();
});
beforeEach(async () => {
  useWebhookSecret(secrets.default);
  await sqs.send(new PurgeQueueCommand({ QueueUrl: infra.env.ALERTS_QUEUE_URL! }));
  await sqs.send(new PurgeQueueCommand({ QueueUrl: infra.env.ALERTS_DLQ_URL! }));
});

describe('each channel has its own webhook', () => {
  test('WARNING, CRITICAL, INFO and a resolution each land on the right channel', async () => {
    useChannels(secrets.critical, secrets.warning);
    const crit = input(3, 'broker down everywhere');
    await publishAlertEvent(firing(input(2, 'web restarts #w')));
    await publishAlertEvent(firing(crit));
    await publishAlertEvent(info('all clear today #i'));
    await publishAlertEvent(resolutionOf(crit, 'broker recovered #r'));
    const { failed } = await deliverAll(4);
    assert.deepEqual(failed, []);
    await slack.waitFor((m) => m.text.includes('broker recovered #r'));
    assert.deepEqual(channelOf('web restarts #w'), ['warning']);
    assert.deepEqual(channelOf('broker down everywhere'), ['critical']);
    assert.deepEqual(channelOf('all clear today #i'), ['alerts']);
    // INFO by severity, but it resolves a level 3 alert: the critical channel, where the page was.
    assert.deepEqual(channelOf('broker recovered #r'), ['critical']);
  });

  test('a WARNING resolution goes to the warning channel', async () => {
    useChannels(secrets.critical, secrets.warning);
    const warn = input(2, 'disk filling');
    await publishAlertEvent(resolutionOf(warn, 'disk fine again #wr'));
    assert.deepEqual((await deliverAll(1)).failed, []);
    await slack.waitFor((m) => m.text.includes('disk fine again #wr'));
    assert.deepEqual(channelOf('disk fine again #wr'), ['warning']);
  });
});

describe('fallback and broken channel secrets', () => {
  test('a level without its own secret goes to the default webhook; the other keeps its channel', async () => {
    useChannels(secrets.critical, undefined);
    await publishAlertEvent(firing(input(2, 'fallback warning #f')));
    await publishAlertEvent(firing(input(3, 'still critical #f')));
    assert.deepEqual((await deliverAll(2)).failed, []);
    await slack.waitFor((m) => m.text.includes('still critical #f'));
    await slack.waitFor((m) => m.text.includes('fallback warning #f'));
    assert.deepEqual(channelOf('fallback warning #f'), ['alerts']);
    assert.deepEqual(channelOf('still critical #f'), ['critical']);
    useChannels(undefined, undefined);
    assert.deepEqual(await resolveWebhook('critical'), {
      url: new URL(slack.url),
      secretId: secrets.default,
      channel: 'default',
    });
  });

  test('a missing channel secret fails only that channel, with a WebhookConfigError naming the secret id', async () => {
    const missing = `${infra.prefix}/slack-critical-missing`;
    useChannels(missing, secrets.warning);
    await assert.rejects(
      resolveWebhook('critical'),
      (err: Error) =>
        err instanceof WebhookConfigError &&
        err.secretId === missing &&
        err.message.includes(`Slack webhook secret ${missing} could not be read: ResourceNotFoundException`) &&
        err.message.includes("critical channel's webhook"),
    );
    const before = slack.requests.length;
    await publishAlertEvent(firing(input(3, 'page lost? #m')));
    await publishAlertEvent(firing(input(2, 'warning fine #m')));
    const { failed, records } = await deliverAll(2);
    assert.equal(failed.length, 1, 'only the critical item failed (it goes back to the queue)');
    await slack.waitFor((m) => m.text.includes('warning fine #m'));
    assert.deepEqual(channelOf('warning fine #m'), ['warning']);
    assert.deepEqual(channelOf('page lost? #m'), [], 'no fallback to another channel');
    assert.equal(slack.requests.length, before + 1);
    // Its redelivery, once the secret is fixed, reaches the critical channel.
    useChannels(secrets.critical, secrets.warning);
    const record = records.find((r) => r.messageId === failed[0])!;
    const retry = { ...record, attributes: { ...record.attributes, ApproximateReceiveCount: '2' } };
    assert.deepEqual((await invokeForwarder(handler, infra.env.ALERTS_QUEUE_URL!, [retry])).failedIds, []);
    await slack.waitFor((m) => m.text.includes('page lost? #m'));
    assert.deepEqual(channelOf('page lost? #m'), ['critical']);
  });

  test('an invalid channel secret names the secret id and never echoes the value', async () => {
    const bad = await createWebhookSecret('hooks.slack.com/services/T000/B000/not-a-url-secret-token');
    useChannels(undefined, bad);
    await assert.rejects(resolveWebhook('warning'), (err: Error) => {
      assert.ok(err instanceof WebhookConfigError);
      assert.equal(err.secretId, bad);
      assert.match(err.message, new RegExp(`Slack webhook secret ${bad} is not a URL`));
      assert.ok(!err.message.includes('secret-token'), err.message);
      return true;
    });
  });
});
