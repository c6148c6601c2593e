/**
 * GET /v1/health?deep=1 through the real operator-api handler on moto: every table and queue the API uses is
 * probed with the function's own clients, a missing one is named (logical name and the error's name only), the
 * answer is 503 then, and the check writes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
before(async () => {
  fx = await createApiFixture();
});
after(() => fx.close());

const EXPECTED = [
  'queue:alerts',
  'queue:alerts-dlq',
  'queue:jobs',
  'queue:jobs-dlq',
  'table:alerts',
  'table:events',
  'table:fleet',
  'table:jobs',
];
const names = (checks: { kind: string; resource: string }[]) => checks.map((c) => `${c.kind}:${c.resource}`).sort();

test('the shallow check touches nothing and lists no checks', async () => {
  const res = await fx.operator({ method: 'GET', path: '/v1/health', token: '' });
  assert.equal(res.status, 200);
  assert.equal(res.body.status, 'ok');
  assert.equal(res.body.checks, undefined);
});

test('deep=1: every table and queue the API uses answers; the check writes nothing', async () => {
  const before = await fx.snapshot();
  const res = await fx.operator({ method: 'GET', path: '/v1/health', query: { deep: '1' }, token: '' });
  assert.equal(res.status, 200, res.raw);
  assert.equal(res.body.status, 'ok');
  assert.deepEqual(names(res.body.checks), EXPECTED);
  for (const c of res.body.checks) assert.deepEqual(c, { resource: c.resource, kind: c.kind, ok: true });
  assert.equal(await fx.snapshot(), before);
});

test('deep=1: a missing table and a missing queue are named, with 503 and no physical name in the answer', async () => {
  const saved = { events: process.env.EVENTS_TABLE!, dlq: process.env.ALERTS_DLQ_URL! };
  const missingTable = `${fx.infra.prefix}-gone-events`;
  const missingQueue = saved.dlq.replace(/[^/]+$/, `${fx.infra.prefix}-gone-alerts-dlq`);
  process.env.EVENTS_TABLE = missingTable;
  process.env.ALERTS_DLQ_URL = missingQueue;
  try {
    const res = await fx.operator({ method: 'GET', path: '/v1/health', query: { deep: '1' }, token: '' });
    assert.equal(res.status, 503, res.raw);
    assert.equal(res.body.status, 'failing');
    assert.deepEqual(names(res.body.checks), EXPECTED);
    const failed = res.body.checks.filter((c: { ok: boolean }) => !c.ok);
    assert.deepEqual(names(failed), ['queue:alerts-dlq', 'table:events']);
    for (const c of failed) assert.match(c.error, /^\w+$/, `${c.kind}:${c.resource} names its error`);
    assert.equal(failed.find((c: { kind: string }) => c.kind === 'table').error, 'ResourceNotFoundException');
    assert.ok(!res.raw?.includes(missingTable) && !res.raw?.includes(fx.infra.prefix), 'no physical names');
    assert.equal(res.headers['cache-control'], 'no-store');
  } finally {
    process.env.EVENTS_TABLE = saved.events;
    process.env.ALERTS_DLQ_URL = saved.dlq;
  }
});

test('deep=1: an unset resource setting is a failed check, not a crash', async () => {
  const saved = process.env.JOBS_QUEUE_URL!;
  delete process.env.JOBS_QUEUE_URL;
  try {
    const res = await fx.operator({ method: 'GET', path: '/v1/health', query: { deep: '1' }, token: '' });
    assert.equal(res.status, 503, res.raw);
    const jobs = res.body.checks.find(
      (c: { kind: string; resource: string }) => c.kind === 'queue' && c.resource === 'jobs',
    );
    assert.deepEqual(jobs, { resource: 'jobs', kind: 'queue', ok: false, error: 'NotConfigured' });
  } finally {
    process.env.JOBS_QUEUE_URL = saved;
  }
});
