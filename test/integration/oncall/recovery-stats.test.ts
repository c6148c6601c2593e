/**
 * Recovery statistics on moto from a scripted mix of recoveries: agents' cumulative counters in their reports
 * (a duplicate, a heartbeat and a reset epoch among them), a RETRY that worked and a SKIP through the job routes;
 * the stats route per fleet and per device, the CLI table, and the RecoverySuccessRateLow verdict.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';
import { statsView } from '../../../functions/cli/commands/stats.js';
import type { RecoveryStats } from '../../../functions/contract/stats.js';

let fx: ApiFixture;
let markDispatched: typeof import('../../../functions/adapters/jobs-repo.js').markDispatched;
let evaluateRecoveryRate: typeof import('../../../functions/services/recovery-stats.js').evaluateRecoveryRate;
const tokens: Record<string, string> = {};
before(async () => {
  fx = await createApiFixture({ CIRCUIT_FAILURE_THRESHOLD: '50' });
  ({ markDispatched } = await import('../../../functions/adapters/jobs-repo.js'));
  ({ evaluateRecoveryRate } = await import('../../../functions/services/recovery-stats.js'));
  for (const id of ['rs-1', 'rs-2']) tokens[id] = await fx.register(id);
});
after(() => fx.close());

async function report(deviceId: string, seq: number, epoch: string, counts: Record<string, [number, number]>) {
  return fx.device({
    method: 'POST',
    path: `/v1/devices/${deviceId}/reports`,
    token: tokens[deviceId],
    body: {
      deviceId,
      seq,
      kind: 'full',
      agentVersion: '1',
      uptimeSeconds: seq,
      sentAt: new Date().toISOString(),
      services: [{ name: 'web', image: 'lab/web:1', status: 'running' }],
      recoveries: {
        epoch,
        counts: Object.entries(counts).map(([strategy, [succeeded, failed]]) => ({ strategy, succeeded, failed })),
      },
    },
  });
}

async function job(deviceId: string, type: string, outcomes: ('FAILED' | 'SUCCEEDED')[]) {
  const enq = await fx.operator({
    method: 'POST',
    path: `/v1/devices/${deviceId}/jobs`,
    body: { type, params: type === 'restart-service' ? { service: 'web' } : {} },
  });
  assert.equal(enq.status, 202, enq.raw);
  let version = enq.body.version as number;
  for (const status of outcomes) {
    await markDispatched(enq.body.jobId);
    const res = await fx.device({
      method: 'PUT',
      path: `/v1/devices/${deviceId}/jobs/${enq.body.jobId}`,
      token: tokens[deviceId],
      body: {
        status,
        expectedVersion: version,
        ...(status === 'FAILED' ? { statusDetails: { error: 'exit 1' } } : {}),
      },
    });
    assert.equal(res.status, 200, res.raw);
    version = res.body.version;
  }
}

const stats = async (query: Record<string, string> = {}) => {
  const res = await fx.operator<RecoveryStats>({ method: 'GET', path: '/v1/stats/recoveries', query });
  assert.equal(res.status, 200, res.raw);
  return res.body;
};
const rows = (w: RecoveryStats['windows'][number]) => w.strategies.map((s) => [s.strategy, s.succeeded, s.failed]);

test('a scripted mix of recoveries is counted once each, by strategy and outcome', async () => {
  assert.equal((await report('rs-1', 1, 'a', { restart: [3, 0] })).status, 200);
  assert.equal((await report('rs-1', 1, 'a', { restart: [3, 0] })).body.status, 'duplicate'); // resent: adds nothing
  await report('rs-1', 2, 'a', { restart: [5, 1], repull: [0, 1] });
  await report('rs-1', 3, 'a', { restart: [5, 1], repull: [0, 1] }); // heartbeat: the same counters
  await report('rs-2', 1, 'x', { restart: [1, 0] });
  await report('rs-2', 2, 'y', { restart: [0, 2] }); // the agent's state was reset: counting from zero
  await job('rs-1', 'restart-service', ['FAILED', 'SUCCEEDED']); // RETRY, and the retried attempt worked
  await job('rs-2', 'run-health-check', ['FAILED']); // SKIP

  const fleet = await stats();
  assert.deepEqual(
    fleet.windows.map((w) => w.window),
    ['1h', '24h', '7d'],
  );
  for (const w of fleet.windows) {
    assert.deepEqual(rows(w), [
      ['restart', 6, 3],
      ['repull', 0, 1],
      ['RETRY', 1, 0],
      ['SKIP', 0, 1],
    ]);
    assert.deepEqual(w.total, { strategy: 'all', succeeded: 7, failed: 5, attempts: 12, successRate: 7 / 12 });
  }
  assert.deepEqual(fleet.alert, { threshold: 0.95, minAttempts: 20 });

  const one = await stats({ deviceId: 'rs-2', sinceSeconds: '86400' });
  assert.equal(one.deviceId, 'rs-2');
  assert.deepEqual(
    one.windows.map((w) => [w.window, rows(w)]),
    [
      [
        '86400s',
        [
          ['restart', 1, 2],
          ['SKIP', 0, 1],
        ],
      ],
    ],
  );

  const table = statsView(fleet, { color: false });
  assert.match(table, /Recovery statistics — whole fleet/);
  assert.match(table, /STRATEGY\s+ATTEMPTS\s+SUCCEEDED\s+FAILED\s+SUCCESS RATE/);
  assert.match(table, /restart\s+9\s+6\s+3\s+66\.7 %/);
  assert.match(table, /all\s+12\s+7\s+5\s+58\.3 %/);
});

test('bad input is a precise 400', async () => {
  const res = await fx.operator({ method: 'GET', path: '/v1/stats/recoveries', query: { sinceSeconds: '5' } });
  assert.equal(res.status, 400, res.raw);
  const dup = await fx.device({
    method: 'POST',
    path: '/v1/devices/rs-1/reports',
    token: tokens['rs-1'],
    body: {
      deviceId: 'rs-1',
      seq: 99,
      kind: 'full',
      agentVersion: '1',
      uptimeSeconds: 1,
      sentAt: new Date().toISOString(),
      services: [],
      recoveries: {
        epoch: 'a',
        counts: [
          { strategy: 'restart', succeeded: 1, failed: 0 },
          { strategy: 'restart', succeeded: 2, failed: 0 },
        ],
      },
    },
  });
  assert.equal(dup.status, 400, dup.raw);
  assert.match(dup.raw ?? '', /duplicate strategy 'restart'/);
});

test('RecoverySuccessRateLow: too few attempts say nothing; enough below the threshold fire', async () => {
  const now = Date.now();
  assert.equal((await evaluateRecoveryRate(now, { threshold: 0.95, minAttempts: 20 })).verdict, 'ok');
  const firing = await evaluateRecoveryRate(now, { threshold: 0.95, minAttempts: 10 });
  assert.equal(firing.verdict, 'firing');
  assert.equal(firing.stats.total.attempts, 12);
  const alerts = JSON.parse(await fx.snapshot())[fx.infra.env.ALERTS_TABLE ?? ''] as string[];
  assert.ok(
    alerts.some((a) => a.includes('RecoverySuccessRateLow')),
    'the alert is recorded',
  );
  assert.equal((await evaluateRecoveryRate(now, { threshold: 0.5, minAttempts: 10 })).verdict, 'ok');
});
