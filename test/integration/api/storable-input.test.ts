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
  const enq = await fx.operator({ method: 'POST', path: '/v1/devices/dev-num/jobs', body: { type: 'restart-service', params: { service: 'web' } } });
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
const check = (durationMs: number) => ({ lastHealthCheck: { healthy: true, kind: 'http', checkedAt: '2025-01-01T00:00:00Z', durationMs } });

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
  const ok = await fx.device({ method: 'POST', path: '/v1/devices/dev-num/reports', token, body: report({ uptimeSeconds: 1234.567, clockOffsetMs: -0.25 }, check(12.5)) });
  assert.equal(ok.status, 200, ok.raw);
});

test('job status details with unstorable numbers are 400 and write nothing', async () => {
  const before = await fx.snapshot();
  for (const value of [1e300, -1e300, 5e-324, 2 ** 60]) {
    const res = await fx.device({ method: 'PUT', path: `/v1/devices/dev-num/jobs/${jobId}`, token, body: { status: 'IN_PROGRESS', expectedVersion: 1, statusDetails: { progress: value } } });
    assert.equal(res.status, 400, `${value}: ${res.raw}`);
  }
  const res = await fx.device({ method: 'PUT', path: `/v1/devices/dev-num/jobs/${jobId}`, token, body: { status: 'IN_PROGRESS', expectedVersion: 2 ** 40 } });
  assert.equal(res.status, 400, res.raw);
  assert.equal(await fx.snapshot(), before, 'nothing was written');
});
