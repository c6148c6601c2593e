/**
 * The same error on many devices is one incident: devices reporting one per-device alert with one cause (the same
 * image failing to pull) through the real device API on moto. The first device is announced at once, as a lone
 * device always was; the devices that follow with that cause join a group window and arrive as ONE grouped
 * message naming the cause, the count and a sample, instead of one page each. Another cause is its own incident.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { PurgeQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { AlertEvent } from '../../../functions/domain/alerting/event.js';
import { alertPolicy, flushAlertGroups } from '../../../functions/services/alert-groups.js';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';
import { receiveMessages } from '../../support/alerting.js';

let fx: ApiFixture;
const sqs = new SQSClient({});

before(async () => {
  fx = await createApiFixture();
});
after(async () => {
  sqs.destroy();
  await fx.close();
});
beforeEach(() => sqs.send(new PurgeQueueCommand({ QueueUrl: fx.infra.env.ALERTS_QUEUE_URL! })));

async function published(waitMs = 1500): Promise<AlertEvent[]> {
  const msgs = await receiveMessages(fx.infra.env.ALERTS_QUEUE_URL!, { max: 10, waitMs });
  await sqs.send(new PurgeQueueCommand({ QueueUrl: fx.infra.env.ALERTS_QUEUE_URL! }));
  return msgs.map((m) => AlertEvent.parse(JSON.parse(JSON.parse(m.Body!).Message)));
}

/** A device whose agent cannot pull `image` (manifest unknown: permanent, a person must fix the target). */
async function pullFails(deviceId: string, image: string) {
  const token = await fx.register(deviceId);
  const res = await fx.device({
    method: 'POST',
    path: `/v1/devices/${deviceId}/reports`,
    token,
    body: {
      deviceId,
      seq: 1,
      kind: 'full',
      agentVersion: '1.0.0',
      uptimeSeconds: 1,
      sentAt: new Date().toISOString(),
      services: [
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
      ],
    },
  });
  assert.equal(res.status, 200, res.raw);
}

describe('one cause on many devices', () => {
  test('the first device is announced at once, the 14 that follow as one grouped alert with the cause', async () => {
    const ids = Array.from({ length: 15 }, (_, i) => `pull-${String(i).padStart(2, '0')}`);
    for (const id of ids) await pullFails(id, 'lab/web:missing');
    await pullFails('other-1', 'lab/db:gone');

    const first = await published();
    assert.deepEqual(
      first.map((a) => [a.alertName, a.deviceId, a.group === undefined]).sort(),
      [
        ['ServiceImagePullBackOff', 'other-1', true],
        ['ServiceImagePullBackOff', 'pull-00', true],
      ],
      'two causes, two first devices announced on their own; nothing per follower',
    );

    const flushed = await flushAlertGroups({ now: Date.now() + alertPolicy().groupWaitMs + 1000 });
    assert.deepEqual(flushed.published, ['ServiceImagePullBackOff:ImagePullBackOff lab/web:missing']);
    assert.deepEqual(
      flushed.dropped,
      ['ServiceImagePullBackOff:ImagePullBackOff lab/db:gone'],
      'a cause seen on one device only: its own alert was the whole story',
    );
    const grouped = await published();
    assert.equal(grouped.length, 1, JSON.stringify(grouped.map((g) => g.summary)));
    const g = grouped[0]!;
    assert.equal(g.alertName, 'ServiceImagePullBackOff');
    assert.equal(g.group?.count, 15);
    assert.equal(g.group?.sample.length, 10, 'a bounded sample');
    assert.deepEqual(
      g.group?.sample.map((m) => m.deviceId),
      ids.slice(0, 10),
    );
    assert.match(g.summary, /^15 devices: ServiceImagePullBackOff, cause ImagePullBackOff lab\/web:missing: pull-00, /);
    assert.match(g.summary, /and 5 more \(the first was announced on its own\)$/);
    assert.match(g.nextAction, /One cause on 15 devices: fix it once/);
    assert.equal(g.details.stillFailing, 14, 'the followers still failing (the first resolves on its own)');
  });
});
