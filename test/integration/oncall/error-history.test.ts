/**
 * Error history on moto through the real handlers: each change of a service's error becomes one `service.error`
 * event when the report is stored; a heartbeat (unchanged report) writes nothing; the device detail shows the
 * last changes per service and the fleet-wide listing by type finds them across devices.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
const tokens: Record<string, string> = {};
const seqs: Record<string, number> = {};
before(async () => {
  fx = await createApiFixture();
  for (const id of ['eh-1', 'eh-2']) tokens[id] = await fx.register(id);
});
after(() => fx.close());

type Err = { type: string; message: string; timestamp: string; retryCount: number } | null;
const service = (name: string, error: Err) => ({
  name,
  image: `lab/${name}:1`,
  status: error ? 'error' : 'running',
  error: error ? { ...error, nextRetry: null } : null,
});
async function post(deviceId: string, services: unknown[]) {
  seqs[deviceId] = (seqs[deviceId] ?? 0) + 1;
  const res = await fx.device({
    method: 'POST',
    path: `/v1/devices/${deviceId}/reports`,
    token: tokens[deviceId],
    body: {
      deviceId,
      seq: seqs[deviceId],
      kind: 'full',
      agentVersion: '1',
      uptimeSeconds: 100 + seqs[deviceId]!,
      sentAt: new Date().toISOString(),
      services,
    },
  });
  assert.equal(res.status, 200, res.raw);
}
/** Every table but the liveness items (a heartbeat's one write: its sign of life). */
const stored = async () => {
  const all = JSON.parse(await fx.snapshot()) as Record<string, unknown>;
  for (const [k, v] of Object.entries(all))
    if (Array.isArray(v)) all[k] = v.filter((line: string) => !line.includes('"LIVE#'));
  return all;
};
const errorEvents = async (query: Record<string, string>) =>
  (await fx.operator({ method: 'GET', path: '/v1/events/recent', query: { type: 'service.error', ...query } })).body
    .events as { deviceId: string; service: string; detail: Record<string, unknown> }[];

const pull = (retryCount: number): Err => ({
  type: 'ImagePullBackOff',
  message: 'manifest unknown',
  timestamp: '2026-01-01T10:15:00.000Z',
  retryCount,
});

test('raised, retried (no event), changed, cleared: one event per change, none per heartbeat', async () => {
  await post('eh-1', [service('web', null), service('db', null)]);
  assert.deepEqual(await errorEvents({ deviceId: 'eh-1' }), []);

  await post('eh-1', [service('web', pull(1)), service('db', null)]);
  const before = await stored();
  await post('eh-1', [service('web', pull(1)), service('db', null)]); // heartbeat: the same state
  assert.deepEqual(await stored(), before, 'an unchanged heartbeat writes nothing but its sign of life');
  await post('eh-1', [service('web', pull(2)), service('db', null)]); // retried: a state change, not an error change
  assert.equal((await errorEvents({ deviceId: 'eh-1' })).length, 1);

  await post('eh-1', [
    service('web', {
      type: 'CrashLoopBackOff',
      message: 'exit 1',
      timestamp: '2026-01-01T10:20:00.000Z',
      retryCount: 1,
    }),
    service('db', null),
  ]);
  await post('eh-1', [service('web', null), service('db', null)]);

  const events = await errorEvents({ deviceId: 'eh-1' });
  assert.deepEqual(
    events.map((e) => [e.service, e.detail.change, e.detail.type]),
    [
      ['web', 'cleared', 'CrashLoopBackOff'],
      ['web', 'changed', 'CrashLoopBackOff'],
      ['web', 'raised', 'ImagePullBackOff'],
    ],
  );
  assert.equal(events[0]!.detail.since, '2026-01-01T10:20:00.000Z');
  assert.ok(typeof events[0]!.detail.clearedAt === 'string');
  assert.equal(events[1]!.detail.previousType, 'ImagePullBackOff');
});

test('the device detail shows the last changes per service; the fleet-wide listing spans devices', async () => {
  await post('eh-2', [service('cache', { ...pull(1)!, type: 'DiskFull', message: 'no space left' })]);
  const detail = (await fx.operator({ method: 'GET', path: '/v1/devices/eh-1' })).body as {
    errorHistory: { service: string; change: string; type: string; previousType?: string; clearedAt?: string }[];
  };
  assert.deepEqual(
    detail.errorHistory.map((h) => [h.service, h.change, h.type]),
    [
      ['web', 'cleared', 'CrashLoopBackOff'],
      ['web', 'changed', 'CrashLoopBackOff'],
      ['web', 'raised', 'ImagePullBackOff'],
    ],
  );
  const fleet = await errorEvents({ limit: '10' });
  assert.deepEqual(
    fleet.map((e) => [e.deviceId, e.detail.change]),
    [
      ['eh-2', 'raised'],
      ['eh-1', 'cleared'],
      ['eh-1', 'changed'],
      ['eh-1', 'raised'],
    ],
  );
  assert.equal((await errorEvents({ limit: '2' })).length, 2);
});
