/**
 * Device credentials and lifecycle through the real handlers on moto: token rotation by an operator and by the
 * device itself (new token shown once, the old one valid for the overlap, only hashes stored), and decommissioning
 * (tokens refused, open jobs cancelled, out of the liveness partitions, the offline index and the listing, items on a TTL).
 * The credentials cache is off in this file (DEVICE_CREDENTIALS_CACHE_SECONDS=0): what is checked is what the
 * table says; the cache's bound is tested in device-auth-cache.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import {
  countOfflineDevices,
  markStateOffline,
  putDeviceState,
  getDeviceState,
} from '../../../functions/adapters/devices-repo.js';
import { findQuietDevices } from '../../../functions/adapters/liveness-repo.js';
import { DeviceReport } from '../../../functions/contract/report.js';
import { storeReport } from '../../../functions/services/report-intake.js';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
before(async () => {
  fx = await createApiFixture({ DEVICE_CREDENTIALS_CACHE_SECONDS: '0' });
});
after(() => fx.close());

const report = (deviceId: string, seq: number) => ({
  deviceId,
  seq,
  kind: 'full',
  agentVersion: '1.0.0',
  uptimeSeconds: 5,
  sentAt: new Date().toISOString(),
  services: [],
});
const poll = (deviceId: string, token: string) =>
  fx.device({ method: 'GET', path: `/v1/devices/${deviceId}/jobs/pending`, token });
const meta = async (deviceId: string) =>
  (
    await fx.doc.send(
      new GetCommand({
        TableName: fx.infra.env.FLEET_TABLE,
        Key: { pk: `DEVICE#${deviceId}`, sk: 'META' },
        ConsistentRead: true,
      }),
    )
  ).Item;

test('an operator rotation shows the new token once; the old one works for the overlap; only hashes are stored', async () => {
  const old = await fx.register('dev-rot');
  const before = Date.now();
  const res = await fx.operator({ method: 'POST', path: '/v1/devices/dev-rot/token/rotate', body: {} });
  assert.equal(res.status, 200, res.raw);
  assert.equal(res.headers['cache-control'], 'no-store');
  const fresh: string = res.body.token;
  assert.match(fresh, /^dev-rot\.[A-Za-z0-9_-]{43}$/);
  assert.notEqual(fresh, old);
  const validUntil = Date.parse(res.body.previousTokenValidUntil);
  assert.ok(
    validUntil >= before + 86_400_000 - 1000 && validUntil <= Date.now() + 86_400_000,
    res.body.previousTokenValidUntil,
  );

  assert.equal((await poll('dev-rot', fresh)).status, 200, 'the new token works');
  assert.equal((await poll('dev-rot', old)).status, 200, 'the old token works during the overlap');

  const item = JSON.stringify(await meta('dev-rot'));
  for (const t of [old, fresh]) {
    assert.ok(!item.includes(t.split('.')[1]!), 'no token secret is stored');
  }
  assert.match(item, /"previousTokenHash":"[0-9a-f]{64}"/);

  // Rotating again with no overlap (a leaked token): only the newest works.
  const now = await fx.operator({
    method: 'POST',
    path: '/v1/devices/dev-rot/token/rotate',
    body: { overlapSeconds: 0 },
  });
  assert.equal(now.status, 200);
  assert.equal(now.body.previousTokenValidUntil, undefined);
  assert.equal((await poll('dev-rot', now.body.token)).status, 200);
  for (const t of [old, fresh]) assert.equal((await poll('dev-rot', t)).status, 401);
  assert.ok(!JSON.stringify(await meta('dev-rot')).includes('previousTokenHash'));
});

test('the previous token stops working when its overlap ends', async () => {
  const old = await fx.register('dev-overlap');
  const res = await fx.operator({
    method: 'POST',
    path: '/v1/devices/dev-overlap/token/rotate',
    body: { overlapSeconds: 1 },
  });
  assert.equal(res.status, 200);
  const until = Date.parse(res.body.previousTokenValidUntil);
  // Whatever the machine's speed: once the stated end has passed, the old token is refused.
  while (Date.now() <= until) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await poll('dev-overlap', old)).status, 401);
  assert.equal((await poll('dev-overlap', res.body.token)).status, 200);
});

test('a device renews its own token; a lost answer never locks it out', async () => {
  const t0 = await fx.register('dev-renew');
  const r1 = await fx.device({ method: 'POST', path: '/v1/devices/dev-renew/token/renew', token: t0 });
  assert.equal(r1.status, 200, r1.raw);
  assert.equal(r1.headers['cache-control'], 'no-store');
  const t1: string = r1.body.token;
  assert.ok(Date.parse(r1.body.previousTokenValidUntil) > Date.now() + 86_000_000);
  assert.equal((await poll('dev-renew', t1)).status, 200);
  assert.equal((await poll('dev-renew', t0)).status, 200);

  // The answer carrying t1 was lost: the device renews again with t0, the only token it has. t0 stays valid
  // (not t1, which nobody holds), and the device gets t2.
  const r2 = await fx.device({ method: 'POST', path: '/v1/devices/dev-renew/token/renew', token: t0 });
  assert.equal(r2.status, 200, r2.raw);
  const t2: string = r2.body.token;
  assert.equal((await poll('dev-renew', t2)).status, 200);
  assert.equal((await poll('dev-renew', t0)).status, 200);
  assert.equal((await poll('dev-renew', t1)).status, 401);

  // A device cannot renew another device's token.
  await fx.register('dev-other');
  const cross = await fx.device({ method: 'POST', path: '/v1/devices/dev-other/token/renew', token: t2 });
  assert.equal(cross.status, 403);
});

test('rotating an unknown device answers 404 and writes nothing', async () => {
  const snapshot = await fx.snapshot();
  const res = await fx.operator({
    method: 'POST',
    path: '/v1/devices/dev-nobody/token/rotate',
    body: { overlapSeconds: 60 },
  });
  assert.equal(res.status, 404);
  assert.equal(res.body.error, 'not_found');
  const del = await fx.operator({ method: 'DELETE', path: '/v1/devices/dev-nobody' });
  assert.equal(del.status, 404);
  assert.equal(await fx.snapshot(), snapshot);
});

test('decommission: token refused at once, open jobs cancelled, out of the indexes and the listing, items on a TTL', async () => {
  const id = 'dev-gone';
  const token = await fx.register(id);
  assert.equal(
    (await fx.device({ method: 'POST', path: `/v1/devices/${id}/reports`, token, body: report(id, 1) })).status,
    200,
  );
  assert.equal(
    (
      await fx.operator({
        method: 'PUT',
        path: `/v1/devices/${id}/target`,
        body: { services: { web: { image: 'lab/busybox:1' } } },
      })
    ).status,
    200,
  );
  assert.equal(
    (
      await fx.operator({
        method: 'POST',
        path: `/v1/devices/${id}/markers`,
        body: { kind: 'maintenance', durationSeconds: 30 * 86400 },
      })
    ).status,
    201,
  );
  const job = await fx.operator({
    method: 'POST',
    path: `/v1/devices/${id}/jobs`,
    body: { type: 'restart-service', params: { service: 'web' } },
  });
  assert.equal(job.status, 202, job.raw);
  const stateBefore = await getDeviceState(id);
  assert.ok(stateBefore && (stateBefore as unknown as Record<string, unknown>).lastSeenEpoch);
  // Offline and counted, as a device that went quiet would be.
  assert.ok(await markStateOffline(id, Date.now()));
  assert.ok(
    (await findQuietDevices(Date.now() + 3600_000)).some((d) => d.deviceId === id),
    'in the liveness partitions',
  );
  const offlineBefore = await countOfflineDevices();
  assert.ok(offlineBefore >= 1);

  const started = Date.now();
  const res = await fx.operator({ method: 'DELETE', path: `/v1/devices/${id}` });
  assert.equal(res.status, 200, res.raw);
  assert.equal(res.body.deviceId, id);
  assert.equal(res.body.canceledJobs, 1);
  const expires = Date.parse(res.body.itemsExpireAt);
  assert.ok(expires >= started + 7 * 86_400_000 - 2000, res.body.itemsExpireAt);

  assert.equal((await poll(id, token)).status, 401, 'the token stops working');
  assert.equal(
    (await fx.device({ method: 'POST', path: `/v1/devices/${id}/reports`, token, body: report(id, 2) })).status,
    401,
  );
  const jobAfter = await fx.operator({ method: 'GET', path: `/v1/jobs/${job.body.jobId}` });
  assert.equal(jobAfter.body.status, 'CANCELED');
  assert.equal(await countOfflineDevices(), offlineBefore - 1, 'it no longer counts as offline');

  const items =
    (
      await fx.doc.send(
        new QueryCommand({
          TableName: fx.infra.env.FLEET_TABLE,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `DEVICE#${id}` },
          ConsistentRead: true,
        }),
      )
    ).Items ?? [];
  assert.deepEqual(items.map((i) => i.sk).sort(), ['MARKER#*', 'META', 'STATE', 'TARGET']);
  for (const i of items) {
    assert.ok(Number(i.expiresAt) * 1000 <= expires + 1000, `${i.sk} expires (TTL) no later than the device`);
    assert.ok(
      !('livenessShard' in i) && !('offlineShard' in i) && !('tokenHash' in i) && !('entity' in i),
      `${i.sk}: ${JSON.stringify(Object.keys(i))}`,
    );
  }

  // A report that authenticated just before (a warm credentials cache) cannot put the device back into the indexes.
  const state = await getDeviceState(id);
  assert.equal(
    await putDeviceState(id, { ...state!, lastSeq: 3, lastSeenEpoch: Date.now() } as never, state!.lastSeq),
    false,
  );
  const late = await storeReport(id, DeviceReport.parse(report(id, 4)), { now: Date.now(), correlationId: 'late' });
  assert.equal(late.outcome.status, 'retired', 'nor back into the liveness partitions');
  assert.ok(
    !(await findQuietDevices(Date.now() + 3600_000)).some((d) => d.deviceId === id),
    'never to be marked offline',
  );

  const list = await fx.operator({ method: 'GET', path: '/v1/devices' });
  assert.ok(!list.body.devices.some((d: { deviceId: string }) => d.deviceId === id), 'not listed');
  assert.equal((await fx.operator({ method: 'GET', path: `/v1/devices/${id}` })).status, 404);
  assert.equal(
    (
      await fx.operator({
        method: 'POST',
        path: `/v1/devices/${id}/jobs`,
        body: { type: 'restart-service', params: { service: 'web' } },
      })
    ).status,
    404,
  );
  assert.equal((await fx.operator({ method: 'POST', path: `/v1/devices/${id}/token/rotate`, body: {} })).status, 404);
  // The id stays taken until the TTL removes the tombstone.
  assert.equal((await fx.operator({ method: 'POST', path: '/v1/devices', body: { deviceId: id } })).status, 409);

  // Idempotent: a second call (say, after a crash half-way) finishes and reports the first decommission.
  const again = await fx.operator({ method: 'DELETE', path: `/v1/devices/${id}` });
  assert.equal(again.status, 200);
  assert.equal(again.body.decommissionedAt, res.body.decommissionedAt);
  assert.equal(again.body.canceledJobs, 0);

  const events = await fx.operator({ method: 'GET', path: '/v1/events/recent', query: { deviceId: id } });
  assert.ok(events.body.events.some((e: { type: string }) => e.type === 'device.decommissioned'));
});
