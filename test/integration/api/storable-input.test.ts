/**
 * Numbers and keys a client sends must be storable as they are: what DynamoDB (or the SDK's marshalling)
 * cannot store is refused at the door with a 400 and nothing written, never a 500 after the fact.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
let token = '';
let jobId = '';
before(async () => {
  fx = await createApiFixture();
  token = await fx.register('dev-num');
  const enq = await fx.operator({
    method: 'POST',
    path: '/v1/devices/dev-num/jobs',
    body: { type: 'restart-service', params: { service: 'web' } },
  });
  jobId = enq.body.jobId;
});
after(() => fx.close());

const report = (over: Record<string, unknown>, service: Record<string, unknown> = {}) => ({
  deviceId: 'dev-num',
  seq: 1,
  kind: 'full',
  agentVersion: '1',
  uptimeSeconds: 1,
  sentAt: '2025-01-01T00:00:00Z',
  services: [{ name: 'web', image: 'lab/web:1', status: 'running', ...service }],
  ...over,
});
const check = (durationMs: number) => ({
  lastHealthCheck: { healthy: true, kind: 'http', checkedAt: '2025-01-01T00:00:00Z', durationMs },
});

test('report numbers DynamoDB cannot store (or that make no sense) are 400 and write nothing', async () => {
  const before = await fx.snapshot();
  const cases: [string, unknown][] = [
    ['uptimeSeconds underflow', report({ uptimeSeconds: 5e-324 })],
    ['uptimeSeconds overflow', report({ uptimeSeconds: 1e200 })],
    ['uptimeSeconds of millennia', report({ uptimeSeconds: 1e12 })],
    ['clockOffsetMs underflow', report({ clockOffsetMs: -1e-200 })],
    ['clockOffsetMs overflow', report({ clockOffsetMs: 1.5e300 })],
    ['durationMs underflow', report({}, check(1e-200))],
    ['durationMs overflow', report({}, check(1e300))],
    ['restartCount beyond a counter', report({}, { restartCount: 2 ** 40 })],
    ['droppedReports beyond a counter', report({ droppedReports: 2 ** 40 })],
  ];
  for (const [name, body] of cases) {
    const res = await fx.device({ method: 'POST', path: '/v1/devices/dev-num/reports', token, body });
    assert.equal(res.status, 400, `${name}: ${res.raw}`);
    assert.equal(res.body.error, 'validation_failed', name);
  }
  assert.equal(await fx.snapshot(), before, 'nothing was written');
  // Ordinary fractional measurements are still fine.
  const ok = await fx.device({
    method: 'POST',
    path: '/v1/devices/dev-num/reports',
    token,
    body: report({ uptimeSeconds: 1234.567, clockOffsetMs: -0.25 }, check(12.5)),
  });
  assert.equal(ok.status, 200, ok.raw);
});

test('job status details with unstorable numbers are 400 and write nothing', async () => {
  const before = await fx.snapshot();
  for (const value of [1e300, -1e300, 5e-324, 2 ** 60]) {
    const res = await fx.device({
      method: 'PUT',
      path: `/v1/devices/dev-num/jobs/${jobId}`,
      token,
      body: { status: 'IN_PROGRESS', expectedVersion: 1, statusDetails: { progress: value } },
    });
    assert.equal(res.status, 400, `${value}: ${res.raw}`);
  }
  const res = await fx.device({
    method: 'PUT',
    path: `/v1/devices/dev-num/jobs/${jobId}`,
    token,
    body: { status: 'IN_PROGRESS', expectedVersion: 2 ** 40 },
  });
  assert.equal(res.status, 400, res.raw);
  assert.equal(await fx.snapshot(), before, 'nothing was written');
});

test('label keys, status-detail keys and env names that read like the storage format are 400 and write nothing', async () => {
  const before = await fx.snapshot();
  for (const key of ['S', 'N', 'M', 'NULL', 'BOOL', 'constructor', '', '9lives']) {
    const res = await fx.operator({
      method: 'POST',
      path: '/v1/devices',
      body: { deviceId: 'dev-labels', labels: { site: 'x', [key]: 'v' } },
    });
    assert.equal(res.status, 400, `label ${JSON.stringify(key)}: ${res.raw}`);
  }
  for (const key of ['S', 'constructor']) {
    const res = await fx.device({
      method: 'PUT',
      path: `/v1/devices/dev-num/jobs/${jobId}`,
      token,
      body: { status: 'IN_PROGRESS', expectedVersion: 1, statusDetails: { [key]: 'x' } },
    });
    assert.equal(res.status, 400, `status detail ${key}: ${res.raw}`);
    const env = await fx.operator({
      method: 'PUT',
      path: '/v1/devices/dev-num/target',
      body: { services: { web: { image: 'lab/web:1', env: { [key === 'S' ? 'prototype' : key]: 'x' } } } },
    });
    assert.equal(env.status, 400, `env ${key}: ${env.raw}`);
  }
  assert.equal(await fx.snapshot(), before, 'nothing was written');
  const ok = await fx.operator({
    method: 'POST',
    path: '/v1/devices',
    body: { deviceId: 'dev-labels', labels: { site: 'north', 'app.kubernetes.io/name': 'kiosk', Rack: 'b-2' } },
  });
  assert.equal(ok.status, 201, ok.raw);
});

test('one unreadable item does not take down a listing: it is skipped and named', async () => {
  const { DynamoDBClient, PutItemCommand } = await import('@aws-sdk/client-dynamodb');
  const raw = new DynamoDBClient({});
  try {
    for (const id of ['dev-list-a', 'dev-list-b', 'dev-list-c']) await fx.register(id);
    const fleet = fx.infra.env.FLEET_TABLE!;
    // A number DynamoDB stores but the SDK cannot turn into a JavaScript value (not a safe integer, not an
    // integer at all): the kind of item the SDK's unmarshalling throws on.
    const poison = { N: '1.5e20' };
    await raw.send(
      new PutItemCommand({
        TableName: fleet,
        Item: {
          pk: { S: 'DEVICE#dev-list-b' },
          sk: { S: 'META' },
          entity: { S: 'device' },
          deviceId: { S: 'dev-list-b' },
          createdAt: { S: '2025-01-01T00:00:00Z' },
          labels: { M: { site: poison } },
        },
      }),
    );
    await raw.send(
      new PutItemCommand({
        TableName: fleet,
        Item: { pk: { S: 'DEVICE#dev-list-c' }, sk: { S: 'STATE' }, lastSeq: { N: '1' }, uptimeSeconds: poison },
      }),
    );

    const list = await fx.operator({ method: 'GET', path: '/v1/devices', query: { limit: '500' } });
    assert.equal(list.status, 200, list.raw);
    const ids = list.body.devices.map((d: { deviceId: string }) => d.deviceId);
    assert.ok(ids.includes('dev-list-a'), 'the readable devices are served');
    assert.ok(ids.includes('dev-list-c'), 'a device with an unreadable STATE is listed without it');
    assert.ok(!ids.includes('dev-list-b'), 'a device whose META cannot be read is left out');
    const unreadable = list.body.unreadable.map((u: { id: string; item: string }) => `${u.id}/${u.item}`).sort();
    assert.deepEqual(unreadable, ['dev-list-b/META', 'dev-list-c/STATE']);

    // One device on its own: shown without the item it cannot read, and named; a device whose META cannot be read
    // is a 500 that says which item and why (not a bare internal_error), however often it is asked.
    const partial = await fx.operator({ method: 'GET', path: '/v1/devices/dev-list-c' });
    assert.equal(partial.status, 200, partial.raw);
    assert.equal(partial.body.deviceId, 'dev-list-c');
    assert.deepEqual(
      partial.body.unreadable.map((u: { id: string; item: string }) => `${u.id}/${u.item}`),
      ['dev-list-c/STATE'],
    );
    for (let i = 0; i < 2; i++) {
      const bad = await fx.operator({ method: 'GET', path: '/v1/devices/dev-list-b' });
      assert.equal(bad.status, 500, bad.raw);
      assert.equal(bad.body.error, 'unreadable_item');
      assert.deepEqual([bad.body.details.id, bad.body.details.item], ['dev-list-b', 'META']);
      assert.match(bad.body.message, /cannot be read.*docs\/runbook\.md#unreadable-items/);
    }

    // The device-facing job list too: one bad job must not block the device's others.
    await raw.send(
      new PutItemCommand({
        TableName: fx.infra.env.JOBS_TABLE!,
        Item: {
          jobId: { S: 'job_Poison0000001' },
          pendingDeviceId: { S: 'dev-num' },
          deviceId: { S: 'dev-num' },
          status: { S: 'IN_PROGRESS' },
          createdAt: { S: '2025-01-01T00:00:00Z' },
          statusDetails: { M: { progress: poison } },
        },
      }),
    );
    const pending = await fx.device({ method: 'GET', path: '/v1/devices/dev-num/jobs/pending', token });
    assert.equal(pending.status, 200, pending.raw);
    assert.deepEqual(
      pending.body.unreadable.map((u: { id: string }) => u.id),
      ['job_Poison0000001'],
    );
    const job = await fx.operator({ method: 'GET', path: '/v1/jobs/job_Poison0000001' });
    assert.equal(job.status, 500, job.raw);
    assert.equal(job.body.error, 'unreadable_item');
    assert.deepEqual([job.body.details.id, job.body.details.item], ['job_Poison0000001', 'job']);
  } finally {
    raw.destroy();
  }
});
