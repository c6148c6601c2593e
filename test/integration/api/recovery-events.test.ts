/**
 * A level-1 recovery (the agent restarted a killed container itself, between two reports) is recorded as a
 * `service.recovered` event: it is what recovery statistics count. Only a state change records it, never a
 * heartbeat.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
let token = '';
before(async () => {
  fx = await createApiFixture();
  token = await fx.register('dev-heal');
});
after(() => fx.close());

const report = (seq: number, restartCount: number) => ({
  deviceId: 'dev-heal',
  seq,
  kind: 'full',
  agentVersion: '1',
  uptimeSeconds: 100 + seq,
  sentAt: new Date().toISOString(),
  services: [{ name: 'web', image: 'lab/web:1', status: 'running', restartCount, recentRestarts: restartCount }],
});
const post = async (seq: number, restartCount: number) => {
  const res = await fx.device({
    method: 'POST',
    path: '/v1/devices/dev-heal/reports',
    token,
    body: report(seq, restartCount),
  });
  assert.equal(res.status, 200, res.raw);
};
const recovered = async () =>
  (
    await fx.operator({
      method: 'GET',
      path: '/v1/events/recent',
      query: { deviceId: 'dev-heal', type: 'service.recovered' },
    })
  ).body.events as { service: string; detail: Record<string, unknown> }[];

test('an agent restart between two reports is recorded as service.recovered, once', async () => {
  await post(1, 0);
  assert.deepEqual(await recovered(), []);
  await post(2, 1); // killed and restarted by the agent since the last report
  const events = await recovered();
  assert.equal(events.length, 1);
  assert.equal(events[0]!.service, 'web');
  assert.deepEqual(events[0]!.detail, { by: 'agent', level: 1, restarts: 1 });
  await post(3, 1); // a heartbeat: nothing new
  assert.equal((await recovered()).length, 1);
});
