/**
 * Offline detection and grouping on moto, with its own tables (every device here is meant to go offline):
 * reports through the real device-api handler, the scheduled evaluator (liveness partitions, no scan),
 * group_wait, SNS → alerts queue → the real Slack forwarder → the local HTTP Slack stand-in.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createAlertingFixture, deliverPending, iso, running, type AlertingFixture } from '../../support/alerting.js';
import { documentClient } from '../../../functions/lib/aws.js';
import { evaluateFleet } from '../../../functions/handlers/health-evaluator.js';
import { handler as forwarder } from '../../../functions/handlers/slack-forwarder.js';

let al: AlertingFixture;

before(async () => {
  al = await createAlertingFixture({ OFFLINE_AFTER_SECONDS: '90', ALERT_GROUP_WAIT_SECONDS: '60' });
});
after(() => al.close());

describe('offline devices', () => {
  test('an offline device under a maintenance marker is marked offline without an alert', async () => {
    const id = 'quiet-1';
    await al.report(id, [running('web')]);
    assert.equal((await al.api.operator({ method: 'POST', path: `/v1/devices/${id}/markers`, body: { kind: 'maintenance', durationSeconds: 3600 } })).status, 201);
    const r = await evaluateFleet({ now: Date.now() + 91_000 });
    assert.ok(r.silenced.includes(id));
    assert.equal(r.offlineNow, 1, 'silenced or not, it is offline: the devices_offline gauge counts it');
    const later = await evaluateFleet({ now: Date.now() + 91_000 + 61_000 });
    assert.deepEqual(later.groups.published, []);
    assert.deepEqual(await al.drainAlertEvents(), []);
  });

  test('100 devices going offline within the grouping window: one grouped alert naming the count and a sample, one resolved', async () => {
    await al.drainAlertEvents(100);
    const ids = Array.from({ length: 100 }, (_, i) => `fleet-${String(i).padStart(3, '0')}`);
    for (const id of ids) await al.report(id, [running('web')]);
    const t = Date.now();
    // Past the offline threshold: one evaluator run finds all of them (no scan) and opens a group window.
    const first = await evaluateFleet({ now: t + 91_000 });
    assert.equal(first.offline.length, 100);
    assert.equal(first.offlineNow, 101, 'the gauge: these 100 and quiet-1 from the test before');
    assert.deepEqual(first.groups.waiting, ['DeviceOffline']);
    assert.deepEqual(await al.drainAlertEvents(), [], 'nothing sent before group_wait');
    const second = await evaluateFleet({ now: t + 91_000 + 61_000 });
    assert.equal(second.offline.length, 0, 'marked offline devices are out of the liveness index');
    assert.equal(second.offlineNow, 101, 'and still counted as offline');
    assert.deepEqual(second.groups.published.length, 1);

    const before = al.slack.messages.length;
    await deliverPending(forwarder, al.env('ALERTS_QUEUE_URL'));
    const got = al.slack.messages.slice(before);
    assert.equal(got.length, 1, 'one grouped message');
    assert.match(got[0]!.text, /CRITICAL DeviceOffline ×100/);
    assert.match(got[0]!.text, /100 devices stopped reporting/);
    assert.match(got[0]!.text, /Sample \(10 of 100\)/);
    assert.match(got[0]!.text, /fleet-000/);

    const state = await documentClient().send(new GetCommand({ TableName: al.env('FLEET_TABLE'), Key: { pk: 'DEVICE#fleet-042', sk: 'STATE' } }));
    assert.equal(state.Item?.health, 'offline');
    assert.match(String(state.Item?.offlineShard), /^off#\d$/, 'in the sparse byOffline index');

    // They come back: each report resolves its member; the last one resolves the group with one message.
    for (const id of ids) await al.report(id, [running('web')]);
    await deliverPending(forwarder, al.env('ALERTS_QUEUE_URL'));
    const after = al.slack.messages.slice(before + 1);
    assert.equal(after.length, 1, 'one resolved message for the group');
    assert.match(after[0]!.text, /RESOLVED DeviceOffline/);
    assert.match(after[0]!.text, /All 100 devices/);

    // Back online, out of the byOffline index: the gauge drops to the one device still quiet.
    const back = await documentClient().send(new GetCommand({ TableName: al.env('FLEET_TABLE'), Key: { pk: 'DEVICE#fleet-042', sk: 'STATE' } }));
    assert.equal(back.Item?.offlineShard, undefined);
    assert.equal((await evaluateFleet()).offlineNow, 1);
  });

});
