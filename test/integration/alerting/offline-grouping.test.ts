/**
 * Offline detection and grouping on moto, with its own tables (every device here is meant to go offline):
 * reports through the real device-api handler, the scheduled evaluator (liveness partitions, no scan),
 * group_wait, SNS → alerts queue → the real Slack forwarder → the local HTTP Slack stand-in.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createAlertingFixture, deliverPending, running, type AlertingFixture } from '../../support/alerting.js';
import { documentClient } from '../../../functions/lib/aws.js';
import { evaluateFleet } from '../../../functions/services/offline-detection.js';
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
    assert.equal(
      (
        await al.api.operator({
          method: 'POST',
          path: `/v1/devices/${id}/markers`,
          body: { kind: 'maintenance', durationSeconds: 3600 },
        })
      ).status,
      201,
    );
    const r = await evaluateFleet({ now: Date.now() + 91_000 });
    assert.ok(r.silenced.includes(id));
    assert.equal(
      r.offlineNow,
      0,
      'offline, but silenced by its marker: not counted in devices_offline (nor by the alarm on it)',
    );
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
    assert.equal(first.offlineNow, 100, 'the gauge: these 100 (quiet-1 from the test before is under maintenance)');
    assert.deepEqual(first.groups.waiting, ['DeviceOffline']);
    assert.deepEqual(await al.drainAlertEvents(), [], 'nothing sent before group_wait');
    const second = await evaluateFleet({ now: t + 91_000 + 61_000 });
    assert.equal(second.offline.length, 0, 'marked offline devices are out of the liveness index');
    assert.equal(second.offlineNow, 100, 'and still counted as offline');
    assert.deepEqual(second.groups.published.length, 1);

    const before = al.slack.messages.length;
    await deliverPending(forwarder, al.env('ALERTS_QUEUE_URL'));
    const got = al.slack.messages.slice(before);
    assert.equal(got.length, 1, 'one grouped message');
    assert.match(got[0]!.text, /CRITICAL DeviceOffline ×100/);
    assert.match(got[0]!.text, /100 devices stopped reporting/);
    assert.match(got[0]!.text, /Sample \(10 of 100\)/);
    assert.match(got[0]!.text, /fleet-000/);

    const state = await documentClient().send(
      new GetCommand({ TableName: al.env('FLEET_TABLE'), Key: { pk: 'DEVICE#fleet-042', sk: 'STATE' } }),
    );
    assert.equal(state.Item?.health, 'offline');
    assert.match(String(state.Item?.offlineShard), /^off#\d$/, 'in the sparse byOffline index');

    // They come back: each report resolves its member; the last one resolves the group with one message.
    for (const id of ids) await al.report(id, [running('web')]);
    await deliverPending(forwarder, al.env('ALERTS_QUEUE_URL'));
    const after = al.slack.messages.slice(before + 1);
    assert.equal(after.length, 1, 'one resolved message for the group');
    assert.match(after[0]!.text, /RESOLVED DeviceOffline/);
    assert.match(after[0]!.text, /All 100 devices/);

    // Back online, out of the byOffline index: the gauge drops to 0 (quiet-1 is still quiet, but under maintenance).
    const back = await documentClient().send(
      new GetCommand({ TableName: al.env('FLEET_TABLE'), Key: { pk: 'DEVICE#fleet-042', sk: 'STATE' } }),
    );
    assert.equal(back.Item?.offlineShard, undefined);
    assert.equal((await evaluateFleet()).offlineNow, 0);
  });

  test('a device-wide marker takes an offline device out of devices_offline; when it ends, the device counts and alerts again', async () => {
    await al.drainAlertEvents(100);
    const id = 'quiet-2';
    await al.report(id, [running('web')]);
    const t = Date.now();
    const first = await evaluateFleet({ now: t + 91_000 });
    assert.ok(first.offline.includes(id), 'offline and not silenced: counted');
    // (The devices of the test before went quiet again too: count relative to this reading.)
    const counted = first.offlineNow;

    // Maintenance starts while it is offline: it stops counting at once (the next gauge reading).
    assert.equal(
      (
        await al.api.operator({
          method: 'POST',
          path: `/v1/devices/${id}/markers`,
          body: { kind: 'maintenance', durationSeconds: 3600 },
        })
      ).status,
      201,
    );
    const during = await evaluateFleet({ now: t + 91_000 + 61_000 });
    assert.equal(during.offlineNow, counted - 1);
    assert.deepEqual(during.unsilenced, []);

    // The marker ends (removed here; an expiry is the same to the evaluator) while the device is still offline.
    assert.equal((await al.api.operator({ method: 'DELETE', path: `/v1/devices/${id}/markers` })).status, 204);
    const after = await evaluateFleet({ now: t + 91_000 + 122_000 });
    assert.deepEqual(after.unsilenced, [id]);
    assert.equal(after.offlineNow, counted, 'counted again');
    const state = await documentClient().send(
      new GetCommand({
        TableName: al.env('FLEET_TABLE'),
        Key: { pk: `DEVICE#${id}`, sk: 'STATE' },
        ConsistentRead: true,
      }),
    );
    assert.match(String(state.Item?.offlineShard), /^off#\d$/);
    // quiet-1 went offline silenced (no alert then); once its marker ends it is alerted on.
    assert.equal((await al.api.operator({ method: 'DELETE', path: '/v1/devices/quiet-1/markers' })).status, 204);
    const again = await evaluateFleet({ now: t + 91_000 + 122_000 + 61_000 });
    assert.deepEqual(again.unsilenced, ['quiet-1']);
    assert.equal(again.offlineNow, counted + 1);
    const events = await al.api.operator({ method: 'GET', path: '/v1/events/recent', query: { deviceId: 'quiet-1' } });
    assert.ok(
      events.body.events.some((e: { type: string }) => e.type === 'alert.raised'),
      JSON.stringify(events.body.events.map((e: { type: string }) => e.type)),
    );

    // A report brings it back: out of the index.
    await al.report(id, [running('web')]);
    assert.equal((await evaluateFleet()).offlineNow, counted, 'quiet-2 back online, quiet-1 counted now');
  });
});
