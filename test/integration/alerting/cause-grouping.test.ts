/**
 * The same error on many devices is one incident (Alertmanager's group_wait): devices report one per-device alert
 * with one cause (the same image failing to pull) through the real device API on moto, with their own tables. The
 * first device opens the cause's window without a message, every device with that cause within group_wait joins
 * it, and the flush sends ONE message through SNS → alerts queue → the real Slack forwarder → the local Slack
 * stand-in, naming the cause, the count and a sample. A cause seen on one device only reads like that device's
 * own alert (only the group_wait delayed it). Each member stays recorded; the last to recover resolves the group.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { handler as forwarder } from '../../../functions/handlers/slack-forwarder.js';
import { alertPolicy, flushAlertGroups } from '../../../functions/services/alert-groups.js';
import { createAlertingFixture, deliverPending, type AlertingFixture } from '../../support/alerting.js';

let al: AlertingFixture;

before(async () => {
  al = await createAlertingFixture({ ALERT_GROUP_WAIT_SECONDS: '60' });
});
after(() => al.close());

/** A web service whose image cannot be pulled (manifest unknown: permanent, a person must fix the target). */
const pullFails = (image: string) => [
  {
    name: 'web',
    image,
    status: 'error',
    error: {
      type: 'ImagePullBackOff',
      message: `manifest unknown: ${image}`,
      timestamp: new Date().toISOString(),
      retryCount: 1,
      nextRetry: null,
      permanent: true,
    },
  },
];
const healthy = [{ name: 'web', image: 'lab/web:1', status: 'running' }];

/** Hand everything on the alerts queue to the forwarder; the Slack messages it produced. */
async function deliverAll(): Promise<string[]> {
  const before = al.slack.messages.length;
  for (;;) {
    const r = await deliverPending(forwarder, al.env('ALERTS_QUEUE_URL'), { waitMs: 1500 });
    assert.deepEqual(r.failedIds, [], r.error?.message);
    if (r.records.length === 0) break;
  }
  return al.slack.messages.slice(before).map((m) => m.text);
}

describe('one cause on many devices', () => {
  test('100 devices with one cause: one message after group_wait with the count and a sample, one resolved', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => `pull-${String(i).padStart(3, '0')}`);
    for (const id of ids) await al.report(id, pullFails('lab/web:missing'));
    await al.report('other-1', pullFails('lab/db:gone'));
    assert.deepEqual(await deliverAll(), [], 'nothing before group_wait, not even for the first device');

    const flushed = await flushAlertGroups({ now: Date.now() + alertPolicy().groupWaitMs + 1000 });
    assert.deepEqual(flushed.published.sort(), [
      'ServiceImagePullBackOff:ImagePullBackOff lab/db:gone',
      'ServiceImagePullBackOff:ImagePullBackOff lab/web:missing',
    ]);
    const sent = await deliverAll();
    assert.equal(sent.length, 2, `one message per cause: ${sent.map((t) => t.split('\n')[0]).join(' | ')}`);
    const grouped = sent.find((t) => t.includes('lab/web:missing'));
    assert.ok(grouped, sent.join('\n---\n'));
    assert.match(grouped, /ServiceImagePullBackOff ×100/);
    assert.match(grouped, /100 devices: ServiceImagePullBackOff, cause ImagePullBackOff lab\/web:missing: pull-000, /);
    assert.match(grouped, /Sample \(10 of 100\)/);
    assert.match(grouped, /pull-009/);
    assert.match(grouped, /One cause on 100 devices: fix it once/);

    // A cause on one device: its own alert, as if it had been sent at once.
    const lone = sent.find((t) => t.includes('other-1'));
    assert.ok(lone, sent.join('\n---\n'));
    assert.match(lone, /ServiceImagePullBackOff · web on other-1/);
    assert.match(lone, /web \(lab\/db:gone\): ImagePullBackOff – manifest unknown/);
    assert.match(lone, /Already tried\n• agent: 1 retry with back-off/);
    assert.match(lone, /Next action\nFix the image reference or registry credentials/);
    assert.match(lone, /key ServiceImagePullBackOff:other-1:web · runbook docs\/runbook.md#serviceimagepullbackoff/);
    assert.doesNotMatch(lone, /Affected|Sample|devices:/);

    // Every member is still recorded per device (history, `fleetmedic alerts`).
    const events = await al.api.operator({ method: 'GET', path: '/v1/events/recent', query: { deviceId: 'pull-042' } });
    assert.ok(
      events.body.events.some((e: { type: string }) => e.type === 'alert.raised'),
      JSON.stringify(events.body.events.map((e: { type: string }) => e.type)),
    );

    // They recover: the group's members count down, the last one out sends one resolved message for the group;
    // the lone device resolves like its own alert.
    for (const id of ids) await al.report(id, healthy);
    await al.report('other-1', healthy);
    const resolved = await deliverAll();
    assert.equal(resolved.length, 2, resolved.map((t) => t.split('\n')[0]).join(' | '));
    assert.ok(
      resolved.some((t) => /RESOLVED ServiceImagePullBackOff/.test(t) && /All 100 ServiceImagePullBackOff/.test(t)),
      resolved.join('\n---\n'),
    );
    assert.ok(
      resolved.some((t) => /RESOLVED ServiceImagePullBackOff · web on other-1/.test(t) && /recovered after/.test(t)),
      resolved.join('\n---\n'),
    );
  });

  test('a device that recovers and fails again within group_wait is announced: it is failing at the flush', async () => {
    const id = 'blip-1';
    await al.report(id, pullFails('lab/web:blip'));
    await al.report(id, healthy);
    await al.report(id, pullFails('lab/web:blip'));
    const flushed = await flushAlertGroups({ now: Date.now() + alertPolicy().groupWaitMs + 1000 });
    assert.deepEqual(flushed.published, ['ServiceImagePullBackOff:ImagePullBackOff lab/web:blip']);
    const sent = await deliverAll();
    assert.equal(sent.length, 1, sent.join('\n---\n'));
    assert.match(sent[0]!, /WARNING ServiceImagePullBackOff · web on blip-1/);

    await al.report(id, healthy);
    const resolved = await deliverAll();
    assert.equal(resolved.length, 1, resolved.join('\n---\n'));
    assert.match(resolved[0]!, /RESOLVED ServiceImagePullBackOff · web on blip-1/);
  });

  test('a device that recovers within group_wait and stays healthy is not announced', async () => {
    const id = 'blip-2';
    await al.report(id, pullFails('lab/web:gone-again'));
    await al.report(id, healthy);
    const flushed = await flushAlertGroups({ now: Date.now() + alertPolicy().groupWaitMs + 1000 });
    assert.deepEqual(flushed.dropped, ['ServiceImagePullBackOff:ImagePullBackOff lab/web:gone-again']);
    assert.deepEqual(await deliverAll(), []);
  });
});
