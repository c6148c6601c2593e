/**
 * The alerting adapter on moto: dedupe/cooldown records with conditional writes, group windows, SNS publication
 * (read back from the alerts queue the topic delivers to). Time is injected (`now`), AWS is real.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { PurgeQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createTestInfra, type TestInfra } from '../../support/infra.js';
import { receiveMessages } from '../../support/alerting.js';
import { getAlertRecord } from '../../../functions/adapters/alert-records.js';
import { flushAlertGroups } from '../../../functions/services/alert-groups.js';
import { raiseAlert, resolveAlert } from '../../../functions/services/alert-raising.js';
import { deviceOfflineAlert } from '../../../functions/domain/alerting/builders.js';
import { DEFAULT_ALERT_POLICY } from '../../../functions/domain/alerting/dedupe.js';
import { AlertEvent, type AlertInput } from '../../../functions/domain/alerting/event.js';

let infra: TestInfra;
const sqs = new SQSClient({});
const MIN = 60_000;
const T0 = Date.parse('2030-01-01T00:00:00Z');

before(async () => {
  infra = await createTestInfra({ POWERTOOLS_LOG_LEVEL: 'CRITICAL', POWERTOOLS_METRICS_DISABLED: 'true' });
});
after(() => infra.close());
beforeEach(() => sqs.send(new PurgeQueueCommand({ QueueUrl: infra.env.ALERTS_QUEUE_URL! })));

interface Published {
  event: AlertEvent;
  attributes: Record<string, { Type: string; Value: string }>;
  subject?: string;
}
async function published(waitMs = 1500): Promise<Published[]> {
  const msgs = await receiveMessages(infra.env.ALERTS_QUEUE_URL!, { max: 10, waitMs });
  await sqs.send(new PurgeQueueCommand({ QueueUrl: infra.env.ALERTS_QUEUE_URL! }));
  return msgs.map((m) => {
    const env = JSON.parse(m.Body!);
    return {
      event: AlertEvent.parse(JSON.parse(env.Message)),
      attributes: env.MessageAttributes ?? {},
      subject: env.Subject,
    };
  });
}

const crash = (service: string, level: 2 | 3 = 2): AlertInput => ({
  alertName: 'ServiceCrashLoop',
  level,
  deviceId: 'dev-a',
  service,
  summary: `${service} keeps crashing`,
  since: T0 - MIN,
  correlationId: 'corr-xyz',
});

describe('dedupe and cooldown', () => {
  test('20 concurrent raises of one key: exactly one notification, the rest suppressed and counted', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => raiseAlert(crash('race'), { now: T0 })));
    assert.equal(results.filter((r) => r.action === 'notified').length, 1);
    assert.equal(results.filter((r) => r.action === 'suppressed').length, 19);
    assert.equal((await getAlertRecord('ServiceCrashLoop:dev-a:race'))?.suppressedCount, 19);
    const msgs = await published();
    assert.equal(msgs.length, 1);
    const p = msgs[0]!;
    assert.equal(p.attributes.severity?.Value, 'WARNING', 'SNS attributes let subscriptions filter');
    assert.equal(p.attributes.alertName?.Value, 'ServiceCrashLoop');
    assert.equal(p.attributes.correlationId?.Value, 'corr-xyz');
    assert.equal(p.subject, '[WARNING] ServiceCrashLoop race on dev-a');
  });

  test('flapping within the cooldown: one alert and one resolved message; after the cooldown a new alert', async () => {
    const key = 'ServiceCrashLoop:dev-a:flappy';
    for (let i = 0; i < 10; i++) {
      await raiseAlert(crash('flappy'), { now: T0 + i * MIN });
      await resolveAlert(key, { now: T0 + i * MIN + 30_000 });
    }
    const msgs = await published();
    assert.deepEqual(
      msgs.map((m) => m.event.status),
      ['firing', 'resolved'],
    );
    assert.equal((await getAlertRecord(key))?.flaps, 9);
    const later = await raiseAlert(crash('flappy'), { now: T0 + 10 * MIN + DEFAULT_ALERT_POLICY.cooldownMs });
    assert.equal(later.action, 'notified');
  });

  test('a still-failing key is re-notified after its cooldown with the suppressed count; an escalation is never suppressed', async () => {
    await raiseAlert(crash('stuck'), { now: T0 });
    await raiseAlert(crash('stuck'), { now: T0 + MIN });
    await raiseAlert(crash('stuck'), { now: T0 + 2 * MIN });
    const esc = await raiseAlert(crash('stuck', 3), { now: T0 + 3 * MIN });
    assert.equal(esc.action, 'notified');
    const repeat = await raiseAlert(crash('stuck', 3), { now: T0 + 3 * MIN + DEFAULT_ALERT_POLICY.cooldownMs });
    assert.ok(repeat.action === 'notified' && repeat.repeat);
    const msgs = await published();
    assert.deepEqual(
      msgs.map((m) => [m.event.severity, m.event.repeat, m.event.suppressedCount]),
      [
        ['WARNING', false, 0],
        ['CRITICAL', false, 2],
        ['CRITICAL', true, 0],
      ],
    );
  });

  test('a failed publication leaves no record behind, so the next raise notifies', async () => {
    const topic = process.env.ALERT_TOPIC_ARN!;
    process.env.ALERT_TOPIC_ARN = `${topic}-missing`;
    try {
      await assert.rejects(raiseAlert(crash('nopublish'), { now: T0 }));
    } finally {
      process.env.ALERT_TOPIC_ARN = topic;
    }
    assert.equal(await getAlertRecord('ServiceCrashLoop:dev-a:nopublish'), undefined);
    assert.equal((await raiseAlert(crash('nopublish'), { now: T0 + 1000 })).action, 'notified');
  });
});

describe('group windows (group_wait)', () => {
  const offline = (id: string, t: number) =>
    deviceOfflineAlert({ deviceId: id, lastSeenEpochMs: t - 2 * MIN, offlineAfterMs: 90_000 });

  test('members arriving over the window are announced once, after group_wait, as one message', async () => {
    const t = T0 + 100 * MIN;
    for (const [i, dt] of [0, 20_000, 40_000].entries())
      assert.equal((await raiseAlert(offline(`grp-${i}`, t + dt), { now: t + dt })).action, 'grouped');
    assert.deepEqual((await flushAlertGroups({ now: t + 59_000 })).waiting, ['DeviceOffline']);
    assert.deepEqual(await published(800), []);
    const r = await flushAlertGroups({ now: t + 61_000 });
    assert.equal(r.published.length, 1);
    const msgs = await published();
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0]!.event.group?.count, 3);
    assert.equal(msgs[0]!.event.severity, 'WARNING', 'three devices is not a fleet-wide outage');
    assert.deepEqual(
      msgs[0]!.event.group?.sample.map((m) => m.deviceId),
      ['grp-0', 'grp-1', 'grp-2'],
    );
    // Flushing again sends nothing more.
    await flushAlertGroups({ now: t + 2 * MIN });
    assert.deepEqual(await published(800), []);
    // Two come back: nothing; the last one back: one resolved message for the group.
    await resolveAlert('DeviceOffline:grp-0:-', { now: t + 3 * MIN });
    await resolveAlert('DeviceOffline:grp-1:-', { now: t + 3 * MIN });
    assert.deepEqual(await published(800), []);
    await resolveAlert('DeviceOffline:grp-2:-', { now: t + 4 * MIN });
    const resolved = await published();
    assert.deepEqual(
      resolved.map((m) => [m.event.status, m.event.group?.count]),
      [['resolved', 3]],
    );
  });

  test('a blip: every member back before group_wait ends, nothing is sent', async () => {
    const t = T0 + 200 * MIN;
    await raiseAlert(offline('blip-1', t), { now: t });
    await raiseAlert(offline('blip-2', t), { now: t + 1000 });
    await resolveAlert('DeviceOffline:blip-1:-', { now: t + 10_000 });
    await resolveAlert('DeviceOffline:blip-2:-', { now: t + 20_000 });
    const r = await flushAlertGroups({ now: t + 61_000 });
    assert.deepEqual(r.dropped, ['DeviceOffline']);
    assert.deepEqual(await published(800), []);
  });
});
