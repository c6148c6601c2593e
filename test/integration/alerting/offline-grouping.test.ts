/**
 * Offline detection and grouping on moto, with its own tables (every device here is meant to go offline):
 * reports through the real device-api handler, the scheduled evaluator (sparse byLiveness index, no scan),
 * group_wait, SNS → alerts queue → the real Slack forwarder → the local HTTP Slack stand-in.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { PurgeQueueCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';
import { startSlackReceiver, type SlackReceiver } from '../../support/slack-receiver.js';
import { createWebhookSecret, deliverPending, receiveMessages, useWebhookSecret } from '../../support/alerting.js';
import { documentClient } from '../../../functions/lib/aws.js';
import { AlertEvent } from '../../../functions/domain/alert-policy.js';
import { evaluateFleet } from '../../../functions/handlers/health-evaluator.js';
import { handler as forwarder } from '../../../functions/handlers/slack-forwarder.js';

let fx: ApiFixture;
let slack: SlackReceiver;
const sqs = new SQSClient({});
const env = (k: string) => fx.infra.env[k]!;

before(async () => {
  fx = await createApiFixture({ OFFLINE_AFTER_SECONDS: '90', ALERT_GROUP_WAIT_SECONDS: '60' });
  slack = await startSlackReceiver({ print: null });
  useWebhookSecret(await createWebhookSecret(slack.url));
});
after(async () => {
  await slack.close();
  await fx.close();
});

const iso = (ms = Date.now()) => new Date(ms).toISOString();
const seqs = new Map<string, number>();
const tokens = new Map<string, string>();

async function device(id: string): Promise<string> {
  if (!tokens.has(id)) tokens.set(id, await fx.register(id));
  return tokens.get(id)!;
}
async function report(id: string, services: unknown[]) {
  const token = await device(id);
  const seq = (seqs.get(id) ?? 0) + 1;
  seqs.set(id, seq);
  const res = await fx.device({
    method: 'POST',
    path: `/v1/devices/${id}/reports`,
    token,
    body: { deviceId: id, seq, kind: 'full', agentVersion: '1.0.0', uptimeSeconds: seq, sentAt: iso(), services },
  });
  assert.equal(res.status, 200, res.raw);
  return res.body;
}
const running = (name: string) => ({ name, image: `lab/${name}:1`, status: 'running' });

/** Alert events waiting on the alerts queue (read and removed), oldest first. */
async function drainAlertEvents(waitMs = 1500): Promise<AlertEvent[]> {
  const out: AlertEvent[] = [];
  const msgs: Message[] = await receiveMessages(env('ALERTS_QUEUE_URL'), { max: 10, waitMs });
  for (const m of msgs) out.push(AlertEvent.parse(JSON.parse(JSON.parse(m.Body!).Message)));
  await sqs.send(new PurgeQueueCommand({ QueueUrl: env('ALERTS_QUEUE_URL') }));
  return out;
}

describe('offline devices', () => {
  test('an offline device under a maintenance marker is marked offline without an alert', async () => {
    const id = 'quiet-1';
    await report(id, [running('web')]);
    assert.equal((await fx.operator({ method: 'POST', path: `/v1/devices/${id}/markers`, body: { kind: 'maintenance', durationSeconds: 3600 } })).status, 201);
    const r = await evaluateFleet({ now: Date.now() + 91_000 });
    assert.ok(r.silenced.includes(id));
    const later = await evaluateFleet({ now: Date.now() + 91_000 + 61_000 });
    assert.deepEqual(later.groups.published, []);
    assert.deepEqual(await drainAlertEvents(), []);
  });

  test('100 devices going offline within the grouping window: one grouped alert naming the count and a sample, one resolved', async () => {
    await drainAlertEvents(100);
    const ids = Array.from({ length: 100 }, (_, i) => `fleet-${String(i).padStart(3, '0')}`);
    for (const id of ids) await report(id, [running('web')]);
    const t = Date.now();
    // Past the offline threshold: one evaluator run finds all of them (no scan) and opens a group window.
    const first = await evaluateFleet({ now: t + 91_000 });
    assert.equal(first.offline.length, 100);
    assert.deepEqual(first.groups.waiting, ['DeviceOffline']);
    assert.deepEqual(await drainAlertEvents(), [], 'nothing sent before group_wait');
    const second = await evaluateFleet({ now: t + 91_000 + 61_000 });
    assert.equal(second.offline.length, 0, 'marked offline devices are out of the liveness index');
    assert.deepEqual(second.groups.published.length, 1);

    const before = slack.messages.length;
    await deliverPending(forwarder, env('ALERTS_QUEUE_URL'));
    const got = slack.messages.slice(before);
    assert.equal(got.length, 1, 'one grouped message');
    assert.match(got[0]!.text, /CRITICAL DeviceOffline ×100/);
    assert.match(got[0]!.text, /100 devices stopped reporting/);
    assert.match(got[0]!.text, /Sample \(10 of 100\)/);
    assert.match(got[0]!.text, /fleet-000/);

    const state = await documentClient().send(new GetCommand({ TableName: env('FLEET_TABLE'), Key: { pk: 'DEVICE#fleet-042', sk: 'STATE' } }));
    assert.equal(state.Item?.health, 'offline');
    assert.equal(state.Item?.livenessShard, undefined);

    // They come back: each report resolves its member; the last one resolves the group with one message.
    for (const id of ids) await report(id, [running('web')]);
    await deliverPending(forwarder, env('ALERTS_QUEUE_URL'));
    const after = slack.messages.slice(before + 1);
    assert.equal(after.length, 1, 'one resolved message for the group');
    assert.match(after[0]!.text, /RESOLVED DeviceOffline/);
    assert.match(after[0]!.text, /All 100 devices/);
  });

});
