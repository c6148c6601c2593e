/** Device reports through the real device-api handler on moto: idempotency by sequence, deltas, liveness on every report. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { livenessPartition } from '../../../functions/domain/shards.js';
import { ReportAck } from '../../../functions/contract/report.js';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
before(async () => {
  fx = await createApiFixture();
});
after(() => fx.close());

const svc = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  image: `lab/${name}:1`,
  status: 'running',
  ...extra,
});
const report = (deviceId: string, seq: number, services: unknown[], extra: Record<string, unknown> = {}) => ({
  deviceId,
  seq,
  kind: 'full',
  agentVersion: '1.2.3',
  uptimeSeconds: seq * 30,
  sentAt: new Date().toISOString(),
  services,
  ...extra,
});
const stateOf = async (deviceId: string) =>
  (
    await fx.doc.send(
      new GetCommand({
        TableName: fx.infra.env.FLEET_TABLE,
        Key: { pk: `DEVICE#${deviceId}`, sk: 'STATE' },
        ConsistentRead: true,
      }),
    )
  ).Item;

test('a replayed sequence is acknowledged as duplicate and an older one is refused; neither writes', async () => {
  const token = await fx.register('dev-seq');
  const post = (body: unknown) => fx.device({ method: 'POST', path: '/v1/devices/dev-seq/reports', token, body });

  const first = await post(report('dev-seq', 5, [svc('web')]));
  assert.equal(first.status, 200);
  ReportAck.parse(first.body);
  assert.equal(first.body.status, 'applied');
  assert.equal(first.body.lastSeq, 5);

  const before = await fx.snapshot();
  const replay = await post(report('dev-seq', 5, [svc('web', { status: 'exited' })]));
  assert.equal(replay.status, 200);
  assert.equal(replay.body.status, 'duplicate');
  assert.equal(replay.body.lastSeq, 5);

  const older = await post(report('dev-seq', 3, [svc('web', { status: 'exited' })]));
  assert.equal(older.status, 409);
  assert.equal(older.body.error, 'stale_sequence');
  assert.equal(older.body.details.lastSeq, 5);
  assert.equal(await fx.snapshot(), before, 'duplicate and stale reports write nothing');

  // Out of order: 7 arrives before 6; 6 is then stale.
  assert.equal((await post(report('dev-seq', 7, [svc('web', { status: 'exited' })]))).body.status, 'applied');
  const late = await post(report('dev-seq', 6, [svc('web')]));
  assert.equal(late.status, 409);
  const state = await stateOf('dev-seq');
  assert.equal(state?.lastSeq, 7);
  assert.equal(state?.services.web.status, 'exited');
  assert.equal(state?.health, 'degraded');
});

test('delta reports merge into the stored state; full reports replace it', async () => {
  const token = await fx.register('dev-delta');
  const post = (body: unknown) => fx.device({ method: 'POST', path: '/v1/devices/dev-delta/reports', token, body });
  await post(report('dev-delta', 1, [svc('web'), svc('db'), svc('cache')]));
  const error = {
    type: 'ImagePullBackOff',
    message: 'manifest unknown',
    timestamp: '2025-10-24T10:15:00.000Z',
    retryCount: 3,
    nextRetry: '2025-10-24T10:20:00.000Z',
  };
  const delta = await post({
    ...report('dev-delta', 2, [svc('web', { status: 'error', error })]),
    kind: 'delta',
    removedServices: ['cache'],
  });
  assert.equal(delta.status, 200);
  let state = await stateOf('dev-delta');
  assert.deepEqual(Object.keys(state!.services).sort(), ['db', 'web']);
  assert.equal(state!.services.web.error.type, 'ImagePullBackOff');
  assert.equal(state!.health, 'degraded');

  // The operator sees the error badge.
  const detail = await fx.operator({ method: 'GET', path: '/v1/devices/dev-delta' });
  assert.equal(detail.status, 200);
  assert.deepEqual(detail.body.errors, [
    { service: 'web', type: 'ImagePullBackOff', nextRetry: '2025-10-24T10:20:00.000Z', retryCount: 3 },
  ]);
  assert.equal(detail.body.health, 'degraded');
  assert.deepEqual(
    detail.body.services.map((s: { name: string }) => s.name),
    ['db', 'web'],
  );

  await post(report('dev-delta', 3, [svc('web')]));
  state = await stateOf('dev-delta');
  assert.deepEqual(Object.keys(state!.services), ['web']);
  assert.equal(state!.health, 'healthy');
});

test('unchanged heartbeats write no state; every one stores its sign of life in the liveness item', async () => {
  const token = await fx.register('dev-beat');
  const post = (seq: number) =>
    fx.device({
      method: 'POST',
      path: '/v1/devices/dev-beat/reports',
      token,
      body: report('dev-beat', seq, [
        svc('web', {
          lastHealthCheck: { healthy: true, kind: 'http', checkedAt: new Date().toISOString(), durationMs: seq },
        }),
      ]),
    });
  const liveness = async () =>
    (
      await fx.doc.send(
        new GetCommand({
          TableName: fx.infra.env.FLEET_TABLE,
          Key: { pk: livenessPartition('dev-beat'), sk: 'dev-beat' },
          ConsistentRead: true,
        }),
      )
    ).Item;
  assert.equal((await post(1)).status, 200);
  const stored = await stateOf('dev-beat');
  assert.equal(stored?.lastSeq, 1);
  assert.equal(stored?.livenessShard, undefined, 'liveness is not on the (larger, indexed) state item');
  let seen = (await liveness())?.lastSeenEpoch as number;
  assert.ok(seen > 0, 'a reporting device has a liveness item');

  for (let seq = 2; seq <= 4; seq++) {
    const res = await post(seq);
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'applied');
    assert.equal(res.body.lastSeq, 1, 'the ack says which sequence is stored');
    const now = (await liveness())?.lastSeenEpoch as number;
    assert.ok(now >= seen, 'the sign of life moves on with every report');
    seen = now;
  }
  assert.deepEqual(
    await stateOf('dev-beat'),
    stored,
    'unchanged heartbeats (new check timestamps only) wrote no state',
  );
  const item = await liveness();
  assert.deepEqual(
    Object.keys(item!).sort(),
    ['lastSeenEpoch', 'pk', 'sk'],
    'the liveness item stays tiny (1 write unit)',
  );
});
