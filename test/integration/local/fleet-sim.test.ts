/**
 * The fleet simulator (`npm run bench -- fleet-sim`) in a short, time-compressed run, so it does not rot: a dozen
 * devices on each protocol against the real handlers on the emulator. What is asserted is that the counts agree
 * with each other and with the protocol each cohort speaks, never a timing: this machine may be slow, and the
 * budget figures come from the full bench run.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fleetSimRows } from '../../../bench/fleet-sim/rows.js';
import { simulateFleet, type FleetSimResult } from '../../../bench/fleet-sim/simulator.js';
import { ensureEmulator, type Emulator } from '../../support/moto.js';

const MEASURE_SECONDS = 12;
let emulator: Emulator;
let result: FleetSimResult;
const savedEnv = { ...process.env };

before(async () => {
  emulator = await ensureEmulator();
  result = await simulateFleet({
    devices: 12,
    baselineDevices: 5,
    stopDevices: 1,
    jobDevices: 2,
    baselineJobDevices: 1,
    measureSeconds: MEASURE_SECONDS,
    // Every interval scaled down (heartbeat 60 s → 2 s), kept consistent with each other.
    env: { HEARTBEAT_SECONDS: '2', OFFLINE_AFTER_SECONDS: '3', ACTIVE_SYNC_SECONDS: '1', ACTIVE_WINDOW_SECONDS: '6' },
    scheduleSeconds: 1,
    legacy: { reportMs: 1000, jobPollMs: 500, targetPollMs: 1000 },
    followUpDelayMs: 300,
  });
});

after(async () => {
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);
  await emulator?.stop();
});

test('the sync cohort sends only POST /sync; the baseline only the previous routes', () => {
  assert.deepEqual(Object.keys(result.sync.idle.requestsByRoute), ['POST /v1/devices/{deviceId}/sync']);
  const previous = [
    'GET /v1/devices/{deviceId}/jobs/pending',
    'GET /v1/devices/{deviceId}/target',
    'POST /v1/devices/{deviceId}/reports',
  ];
  for (const route of Object.keys(result.baseline.idle.requestsByRoute)) assert.ok(previous.includes(route), route);
  assert.ok(result.sync.idle.requests > 0 && result.baseline.idle.requests > 0);
  const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
  assert.equal(result.sync.idle.requests, sum(result.sync.idle.requestsByRoute));
});

test('every request is counted on both sides of the gateway, and every one that passed it ran the handler once', () => {
  const c = result.checks;
  for (const cohort of ['sync', 'baseline'] as const) {
    // The agent's client repeats a GET that timed out or failed (never a POST): the gateway may see more.
    assert.ok(
      c.requestsAtGateway[cohort] >= c.requestsSent[cohort] - result[cohort].errors,
      `${cohort}: ${c.requestsAtGateway[cohort]} at the gateway, ${c.requestsSent[cohort]} sent`,
    );
    assert.equal(
      c.deviceApiInvocations[cohort],
      c.passedThrottle[cohort],
      `${cohort}: invocations = requests past the throttle`,
    );
    assert.ok(
      c.requestsAtGateway[cohort] - c.passedThrottle[cohort] <= result[cohort].throttled + result[cohort].errors,
      'a gateway 429 reached a device',
    );
  }
  assert.ok((c.dynamoCallsByFunction['device-api'] ?? 0) > 0);
  assert.ok((c.dynamoCallsByFunction['health-evaluator'] ?? 0) > 0, 'the evaluator ran on its schedule');
});

test('an idle sync stores its sign of life: at least one write unit per sync, and reads for it', () => {
  const { idle } = result.sync;
  assert.ok(idle.writeUnits > 0 && idle.readUnits > 0);
  // An invocation is counted by when it started, a request by when the gateway logged it: at each edge of the
  // measured window one request per device may fall on the other side (2 per device over the 12 s window).
  const edgeAllowance = 2 / (MEASURE_SECONDS / 3600);
  assert.ok(idle.lambdaInvocations > 0, 'the handler ran');
  assert.ok(
    idle.lambdaInvocations <= idle.requests + edgeAllowance,
    `${idle.lambdaInvocations} invocations for ${idle.requests} requests per device-hour`,
  );
  // Every sync a device saw applied wrote its liveness item (a timed-out one may have written without the device
  // seeing the answer; a replayed sequence writes nothing).
  assert.ok(
    result.checks.livenessWrites >= result.checks.syncsApplied,
    `${result.checks.livenessWrites} liveness writes for ${result.checks.syncsApplied} applied syncs`,
  );
  assert.ok(result.checks.syncsApplied > 0);
  assert.ok(result.sync.background.lambdaInvocations > 0, 'the schedules are shared over the devices');
});

test('jobs: every job enqueued is counted once, and a stopped device is never a false offline', () => {
  for (const cohort of ['sync', 'baseline'] as const) {
    const r = result[cohort];
    assert.ok(r.jobsEnqueued >= 2, `${cohort}: a first job and its follow-up at least`);
    assert.ok(r.jobsSucceeded <= r.jobsEnqueued);
  }
  assert.equal(result.stopped.length, 1);
  for (const s of result.stopped) assert.ok(!result.falseOffline.devices.includes(s.deviceId));
});

test('the bench rows carry every budget with its baseline', () => {
  const rows = fleetSimRows(result);
  for (const metric of [
    'device requests/device-hour, idle, at defaults',
    'follow-up job pickup',
    'false device.offline',
    'stopped device marked offline',
    'modelled AWS cost/device-month',
  ]) {
    const row = rows.find((r) => r.metric.startsWith(metric));
    assert.ok(row, `row ${metric}`);
    assert.ok(row.budget, `${metric} has a budget`);
  }
  for (const row of rows.filter((r) => r.budget && !r.metric.startsWith('false') && !r.metric.startsWith('stopped')))
    assert.ok(row.baseline, `${row.metric} has a same-run baseline`);
});
