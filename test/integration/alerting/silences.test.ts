/**
 * Silences on moto through the real operator API and the one raise path every alert type takes (services/alerts.ts):
 * a matching silence stops the notification of every alert type, a non-matching alert still goes out, ending the
 * silence lets the next raise through, and each change leaves an audit event.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PurgeQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { forgetSilences } from '../../../functions/adapters/silences-repo.js';
import { ALERT_NAMES } from '../../../functions/domain/alerting/catalogue.js';
import type { AlertInput } from '../../../functions/domain/alerting/event.js';
import { raiseAlert } from '../../../functions/services/alerts.js';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';
import { receiveMessages } from '../../support/alerting.js';

let fx: ApiFixture;
const sqs = new SQSClient({});
before(async () => {
  fx = await createApiFixture();
});
after(() => fx.close());

const input = (alertName: AlertInput['alertName'], deviceId: string): AlertInput => ({
  alertName,
  level: 3,
  deviceId,
  service: 'web',
  summary: `${alertName} on ${deviceId}`,
  since: Date.now(),
});
async function publishedKeys(): Promise<string[]> {
  const msgs = await receiveMessages(fx.infra.env.ALERTS_QUEUE_URL!, { max: 100, waitMs: 1500 });
  await sqs.send(new PurgeQueueCommand({ QueueUrl: fx.infra.env.ALERTS_QUEUE_URL! }));
  return msgs.map((m) => JSON.parse(JSON.parse(m.Body!).Message).dedupeKey as string).sort();
}

test('a silence stops every alert type it matches, and only those; ending it lets the next raise through', async () => {
  const created = await fx.operator({
    method: 'POST',
    path: '/v1/silences',
    headers: { 'x-correlation-id': 'silence-test-1' },
    body: {
      matchers: [
        { name: 'deviceId', op: '=~', value: 'quiet-.*' },
        { name: 'service', value: 'web' },
      ],
      durationSeconds: 3600,
      comment: 'site maintenance',
    },
  });
  assert.equal(created.status, 201, created.raw);
  assert.equal(created.body.state, 'active');
  assert.match(created.body.silenceId, /^sil_/);

  for (const name of ALERT_NAMES) {
    const silenced = await raiseAlert(input(name, 'quiet-1'));
    assert.equal(silenced.action, 'suppressed', name);
    assert.equal(silenced.action === 'suppressed' && silenced.reason, 'silenced', name);
    assert.equal(silenced.action === 'suppressed' && silenced.silenceId, created.body.silenceId, name);
    const loud = await raiseAlert(input(name, 'loud-1'));
    // DeviceOffline is announced by its group's message (after the group wait), the others at once.
    assert.equal(loud.action, name === 'DeviceOffline' ? 'grouped' : 'notified', `${name}: not matched, not silenced`);
  }
  assert.deepEqual(
    await publishedKeys(),
    ALERT_NAMES.filter((n) => n !== 'DeviceOffline')
      .map((n) => `${n}:loud-1:web`)
      .sort(),
    'only the unsilenced device’s alerts were published',
  );

  const list = await fx.operator({ method: 'GET', path: '/v1/silences' });
  assert.equal(list.status, 200);
  assert.ok(list.body.silences.some((s: { silenceId: string }) => s.silenceId === created.body.silenceId));

  const ended = await fx.operator({ method: 'DELETE', path: `/v1/silences/${created.body.silenceId}` });
  assert.equal(ended.status, 200, ended.raw);
  assert.equal(ended.body.state, 'expired');
  forgetSilences();
  const after = await raiseAlert(input('CircuitOpen', 'quiet-1'));
  assert.equal(after.action, 'notified', 'a raise after the silence ended notifies as a first raise');
  assert.deepEqual(await publishedKeys(), ['CircuitOpen:quiet-1:web']);

  const again = await fx.operator({ method: 'DELETE', path: `/v1/silences/${created.body.silenceId}` });
  assert.equal(again.status, 404);

  const audit = await fx.operator({ method: 'GET', path: '/v1/events/recent', query: { type: 'silence.created' } });
  const entry = audit.body.events.find(
    (e: { detail: { silenceId?: string } }) => e.detail.silenceId === created.body.silenceId,
  );
  assert.ok(entry, 'silence.created audit event');
  assert.equal(entry.correlationId, 'silence-test-1');
  assert.equal(entry.detail.comment, 'site maintenance');
  assert.ok(entry.detail.by, 'who');
  const expired = await fx.operator({ method: 'GET', path: '/v1/events/recent', query: { type: 'silence.expired' } });
  assert.ok(
    expired.body.events.some((e: { detail: { silenceId?: string } }) => e.detail.silenceId === created.body.silenceId),
  );
});
