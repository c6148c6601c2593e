/**
 * Liveness at DEFAULT settings (no OFFLINE_AFTER_SECONDS / HEARTBEAT_SECONDS override) on moto, on a simulated
 * clock (no wall-clock window): reports stored by the real intake path (services/report-intake.ts) at the
 * worst on-time spacing the agent can produce (the idle interval + its full jitter), the real scheduled evaluator
 * run every evaluator period. A device on time is never marked offline; a device that stops is marked offline
 * within the documented bound (offlineAfter + one evaluator period).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DeviceReport } from '../../../functions/contract/report.js';
import { evaluateFleet } from '../../../functions/services/offline-detection.js';
import { storeReport } from '../../../functions/services/report-intake.js';
import {
  DEFAULT_LIVENESS,
  detectionBoundSeconds,
  EVALUATOR_PERIOD_SECONDS,
  SYNC_JITTER,
} from '../../../functions/domain/liveness.js';
import { config } from '../../../functions/lib/config.js';
import { createAlertingFixture, running, type AlertingFixture } from '../../support/alerting.js';

let al: AlertingFixture;
before(async () => {
  al = await createAlertingFixture();
});
after(() => al.close());

const report = (deviceId: string, seq: number, now: number) =>
  DeviceReport.parse({
    deviceId,
    seq,
    kind: 'full',
    agentVersion: '1.0.0',
    uptimeSeconds: seq,
    sentAt: new Date(now).toISOString(),
    services: [running('web')],
  });

test('defaults are the documented ones', () => {
  assert.deepEqual(config.liveness, DEFAULT_LIVENESS);
  assert.equal(config.liveness.heartbeatSeconds, 60);
  assert.equal(config.liveness.offlineAfterSeconds, 90);
  assert.equal(detectionBoundSeconds(config.liveness), 150);
});

test('steady devices at default settings are never marked offline across many evaluator runs; a silent one is, within the bound', async () => {
  const s = config.liveness;
  const worstGapMs = s.heartbeatSeconds * (1 + SYNC_JITTER) * 1000; // the longest on-time wait between syncs
  const steady = ['steady-a', 'steady-b', 'steady-c'];
  const silent = 'silent-1';
  const t0 = Date.now();
  const seq = new Map<string, number>();
  const sync = async (id: string, now: number) => {
    const n = (seq.get(id) ?? 0) + 1;
    seq.set(id, n);
    const r = await storeReport(id, report(id, n, now), { now, correlationId: `c-${id}-${n}` });
    assert.equal(r.outcome.status, 'applied');
  };
  // Offsets so that the devices' syncs fall at different phases of the evaluator period.
  const nextSync = new Map<string, number>(steady.map((id, i) => [id, t0 + i * 7_000]));
  await sync(silent, t0);
  const silentStoppedAt = t0;
  let silentMarkedAt: number | undefined;
  const horizon = t0 + 12 * 60_000; // 12 simulated minutes: 12 evaluator runs
  for (
    let evalAt = t0 + EVALUATOR_PERIOD_SECONDS * 1000;
    evalAt <= horizon;
    evalAt += EVALUATOR_PERIOD_SECONDS * 1000
  ) {
    for (const id of steady) {
      while (nextSync.get(id)! <= evalAt) {
        await sync(id, nextSync.get(id)!);
        nextSync.set(id, nextSync.get(id)! + worstGapMs);
      }
    }
    const run = await evaluateFleet({ now: evalAt });
    for (const id of steady)
      assert.ok(
        !run.offline.includes(id) && !run.raced.includes(id),
        `${id} on time but found quiet at +${(evalAt - t0) / 1000} s`,
      );
    if (run.offline.includes(silent)) silentMarkedAt ??= evalAt;
  }
  assert.ok(silentMarkedAt !== undefined, 'the silent device was marked offline');
  const detectedAfterS = (silentMarkedAt - silentStoppedAt) / 1000;
  assert.ok(detectedAfterS > s.offlineAfterSeconds, `not before offlineAfter (${detectedAfterS} s)`);
  assert.ok(
    detectedAfterS <= detectionBoundSeconds(s),
    `within offlineAfter + one evaluator period (${detectedAfterS} s)`,
  );
  const events = await al.api.operator({
    method: 'GET',
    path: '/v1/events/recent',
    query: { type: 'device.offline', limit: '50' },
  });
  assert.deepEqual(
    events.body.events.map((e: { deviceId: string }) => e.deviceId),
    [silent],
    'one device.offline event, for the silent device only',
  );
});
