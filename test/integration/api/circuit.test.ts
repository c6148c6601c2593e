/**
 * The per-device circuit breaker through the real handlers on moto: a full closed → open → half-open →
 * open (longer cooldown) → half-open → closed cycle, a single probe among concurrent commands, 503 with
 * Retry-After while open, operator reset, 50 parallel failure reports, and the EMF gauge.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { CircuitResetResponse, DeviceDetail } from '../../../functions/contract/operator.js';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';
import { captureEmf } from '../../support/emf.js';

// EMF lines are captured (not printed) so the test can check the gauge's dimensions.
const emf = captureEmf();

// Concurrency is the subject here: the test emulator serialises DynamoDB requests, as DynamoDB makes them atomic.
let fx: ApiFixture;
let markDispatched: typeof import('../../../functions/adapters/jobs-repo.js').markDispatched;
/**
 * Long enough that the checks made while the circuit is open (a table snapshot, several requests) finish inside
 * the cooldown on a busy machine: a cooldown that ran out first would make the next command the probe.
 */
const COOLDOWN_MS = 4000;
before(async () => {
  fx = await createApiFixture({
    CIRCUIT_FAILURE_THRESHOLD: '3',
    CIRCUIT_COOLDOWN_SECONDS: String(COOLDOWN_MS / 1000),
    CIRCUIT_MAX_COOLDOWN_SECONDS: String((4 * COOLDOWN_MS) / 1000),
    CIRCUIT_PROBE_LEASE_SECONDS: '30',
    POWERTOOLS_METRICS_DISABLED: 'false',
  });
  ({ markDispatched } = await import('../../../functions/adapters/jobs-repo.js'));
});
after(async () => {
  emf.restore();
  await fx.close();
});

const circuitItem = async (deviceId: string) =>
  (
    await fx.doc.send(
      new GetCommand({
        TableName: fx.infra.env.FLEET_TABLE,
        Key: { pk: `DEVICE#${deviceId}`, sk: 'CIRCUIT' },
        ConsistentRead: true,
      }),
    )
  ).Item;
const eventsOf = async (deviceId: string, type: string) =>
  (
    (
      await fx.doc.send(
        new QueryCommand({
          TableName: fx.infra.env.EVENTS_TABLE,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `DEVICE#${deviceId}` },
        }),
      )
    ).Items ?? []
  ).filter((e) => e.type === type);

const enqueue = (deviceId: string, headers: Record<string, string> = {}) =>
  fx.operator({
    method: 'POST',
    path: `/v1/devices/${deviceId}/jobs`,
    headers,
    body: { type: 'run-health-check', params: {} },
  });

async function dispatchedJob(deviceId: string): Promise<string> {
  const res = await enqueue(deviceId);
  assert.equal(res.status, 202, `enqueue for ${deviceId}: ${res.raw}`);
  await markDispatched(res.body.jobId);
  return res.body.jobId;
}

const report = (deviceId: string, token: string, jobId: string, status: 'FAILED' | 'SUCCEEDED') =>
  fx.device({
    method: 'PUT',
    path: `/v1/devices/${deviceId}/jobs/${jobId}`,
    token,
    body: { status, expectedVersion: 1 },
  });

const sleepUntil = (epochMs: number) => new Promise((r) => setTimeout(r, Math.max(0, epochMs - Date.now()) + 30));

test('full cycle: closed → open → half-open (one probe) → open with longer cooldown → half-open → closed', async () => {
  const id = 'dev-cycle';
  const token = await fx.register(id);
  const jobs = [await dispatchedJob(id), await dispatchedJob(id), await dispatchedJob(id)];

  assert.equal((await report(id, token, jobs[0]!, 'FAILED')).status, 200);
  assert.equal((await report(id, token, jobs[1]!, 'FAILED')).status, 200);
  assert.equal((await circuitItem(id))?.state, 'closed');
  emf.lines.length = 0;
  assert.equal((await report(id, token, jobs[2]!, 'FAILED')).status, 200);
  const opened = await circuitItem(id);
  assert.equal(opened?.state, 'open');
  assert.equal(opened?.consecutiveFailures, 3);
  assert.equal(opened?.retryAtEpoch - Date.parse(opened?.openedAt), COOLDOWN_MS);
  assert.equal((await eventsOf(id, 'circuit.opened')).length, 1);

  // The gauge: 1 = open, and no device id among the dimensions (cardinality).
  const gauge = emf.lines.find((e) => 'circuit_breaker_state' in e);
  assert.ok(gauge, 'circuit_breaker_state was emitted');
  assert.equal(gauge.circuit_breaker_state, 1);
  const dims = gauge._aws.CloudWatchMetrics[0].Dimensions.flat();
  assert.ok(!dims.includes('deviceId'), `dimensions: ${dims}`);
  assert.ok(!JSON.stringify(gauge).includes(id), 'the device id is not in the metric blob at all');

  // While open: 503 circuit_open with retryAt and a jittered Retry-After; nothing written.
  const snap = await fx.snapshot();
  const refused = await enqueue(id);
  assert.equal(refused.status, 503);
  assert.equal(refused.body.error, 'circuit_open');
  assert.equal(refused.body.details.retryAt, new Date(opened?.retryAtEpoch).toISOString());
  const retryAfter = Number(refused.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After ${refused.headers['retry-after']}`);
  assert.equal(await fx.snapshot(), snap);

  // The operator view says open.
  const view = DeviceDetail.parse((await fx.operator({ method: 'GET', path: `/v1/devices/${id}` })).body);
  assert.equal(view.circuit.state, 'open');
  assert.ok(view.recentEvents.some((e) => e.type === 'circuit.opened'));

  // Cooldown over: among concurrent commands exactly one becomes the probe.
  await sleepUntil(opened?.retryAtEpoch);
  const burst = await Promise.all(Array.from({ length: 6 }, () => enqueue(id)));
  const admitted = burst.filter((r) => r.status === 202);
  assert.equal(admitted.length, 1, burst.map((r) => r.status).join(','));
  assert.ok(burst.filter((r) => r.status === 503).every((r) => r.body.error === 'circuit_open'));
  const half = await circuitItem(id);
  assert.equal(half?.state, 'half-open');
  assert.equal(half?.probeOwner, admitted[0]!.body.jobId);
  assert.equal((await eventsOf(id, 'circuit.half_open')).length, 1);

  // The probe fails: open again, with twice the cooldown.
  await markDispatched(admitted[0]!.body.jobId);
  await report(id, token, admitted[0]!.body.jobId, 'FAILED');
  const reopened = await circuitItem(id);
  assert.equal(reopened?.state, 'open');
  assert.equal(reopened?.retryAtEpoch - Date.parse(reopened?.openedAt), 2 * COOLDOWN_MS);
  assert.equal(reopened?.openCount, 2);
  assert.equal((await enqueue(id)).status, 503);

  // Next probe succeeds: closed, failures cleared.
  await sleepUntil(reopened?.retryAtEpoch);
  const probe = await enqueue(id);
  assert.equal(probe.status, 202);
  await markDispatched(probe.body.jobId);
  assert.equal((await report(id, token, probe.body.jobId, 'SUCCEEDED')).status, 200);
  const closed = await circuitItem(id);
  assert.equal(closed?.state, 'closed');
  assert.equal(closed?.consecutiveFailures, 0);
  assert.equal((await eventsOf(id, 'circuit.closed')).length, 1);

  // Closed again: commands flow and the circuit item is not rewritten.
  const version = closed?.version;
  assert.equal((await enqueue(id)).status, 202);
  assert.equal((await circuitItem(id))?.version, version);
});

test('operator reset closes an open circuit and records circuit.reset with the correlation id', async () => {
  const id = 'dev-reset';
  const token = await fx.register(id);
  const jobs = [await dispatchedJob(id), await dispatchedJob(id), await dispatchedJob(id)];
  for (const j of jobs) await report(id, token, j, 'FAILED');
  assert.equal((await circuitItem(id))?.state, 'open');
  const res = await fx.operator({
    method: 'POST',
    path: `/v1/devices/${id}/circuit/reset`,
    headers: { 'x-correlation-id': 'ops-reset-1' },
  });
  assert.equal(res.status, 200);
  const body = CircuitResetResponse.parse(res.body);
  assert.equal(body.circuit.state, 'closed');
  assert.equal(body.correlationId, 'ops-reset-1');
  const resets = await eventsOf(id, 'circuit.reset');
  assert.equal(resets.length, 1);
  assert.equal(resets[0]!.correlationId, 'ops-reset-1');
  assert.equal(resets[0]!.detail.from, 'open');
  assert.equal((await enqueue(id)).status, 202);
  assert.equal((await fx.operator({ method: 'POST', path: '/v1/devices/dev-nobody/circuit/reset' })).status, 404);
});

test('50 parallel failure reports: exactly one closed→open transition and the exact failure count', async () => {
  const id = 'dev-storm';
  const token = await fx.register(id);
  const jobIds: string[] = [];
  for (let i = 0; i < 5; i++) jobIds.push(...(await Promise.all(Array.from({ length: 10 }, () => dispatchedJob(id)))));
  const results = await Promise.all(jobIds.map((j) => report(id, token, j, 'FAILED')));
  assert.deepEqual([...new Set(results.map((r) => r.status))], [200]);
  const item = await circuitItem(id);
  assert.equal(item?.state, 'open');
  assert.equal(item?.consecutiveFailures, 50);
  assert.equal(item?.openCount, 1);
  assert.equal((await eventsOf(id, 'circuit.opened')).length, 1);
  assert.equal((await eventsOf(id, 'command.failed')).length, 50);
});
