/** Report merge: sequence idempotency, full/delta merge, change detection (liveness is stored apart). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeviceReport, type DeviceReportInput } from '../../../functions/contract/report.js';
import {
  canonicalJson,
  decideReport,
  errorBadges,
  healthOf,
  type StoredDeviceState,
} from '../../../functions/domain/report-merge.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const svc = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  image: `lab/${name}:1`,
  status: 'running' as const,
  ...extra,
});
const rep = (seq: number, services: unknown[], extra: Partial<DeviceReportInput> = {}) =>
  DeviceReport.parse({
    deviceId: 'dev-1',
    seq,
    kind: 'full',
    agentVersion: '1.0.0',
    uptimeSeconds: seq,
    sentAt: new Date(T0).toISOString(),
    services,
    ...extra,
  });

function stored(seq: number, services: unknown[], now = T0): StoredDeviceState {
  const d = decideReport(undefined, rep(seq, services), now);
  assert.equal(d.kind, 'changed');
  return (d as { next: StoredDeviceState }).next;
}

test('first report is a change; the same sequence is a duplicate; an older one is stale', () => {
  const s = stored(5, [svc('web')]);
  assert.equal(s.lastSeq, 5);
  assert.equal(s.health, 'healthy');
  assert.deepEqual(decideReport(s, rep(5, []), T0), { kind: 'duplicate', lastSeq: 5 });
  assert.deepEqual(decideReport(s, rep(4, []), T0), { kind: 'stale', lastSeq: 5 });
});

test('an unchanged heartbeat writes no state, however long since the last state write', () => {
  const s = stored(1, [
    svc('web', {
      lastHealthCheck: { healthy: true, kind: 'http', checkedAt: new Date(T0).toISOString(), durationMs: 3 },
    }),
  ]);
  const later = rep(
    2,
    [
      svc('web', {
        lastHealthCheck: { healthy: true, kind: 'http', checkedAt: new Date(T0 + 30_000).toISOString(), durationMs: 9 },
      }),
    ],
    { uptimeSeconds: 999 },
  );
  assert.deepEqual(decideReport(s, later, T0 + 30_000), { kind: 'unchanged', lastSeq: 1 });
  assert.deepEqual(decideReport(s, later, T0 + 24 * 3600_000), { kind: 'unchanged', lastSeq: 1 });
});

test('a status, error, version or health-check verdict change is a change', () => {
  const s = stored(1, [svc('web')]);
  assert.equal(decideReport(s, rep(2, [svc('web', { status: 'exited' })]), T0).kind, 'changed');
  assert.equal(decideReport(s, rep(2, [svc('web')], { agentVersion: '1.0.1' }), T0).kind, 'changed');
  assert.equal(
    decideReport(
      s,
      rep(2, [svc('web', { lastHealthCheck: { healthy: false, kind: 'tcp', checkedAt: new Date(T0).toISOString() } })]),
      T0,
    ).kind,
    'changed',
  );
});

test('a device marked offline is written again on its next report', () => {
  const s = { ...stored(1, [svc('web')]), health: 'offline' as const };
  const d = decideReport(s, rep(2, [svc('web')]), T0 + 1000);
  assert.equal(d.kind, 'changed');
  assert.equal(d.kind === 'changed' && d.next.health, 'healthy');
});

test('delta upserts and removes; full replaces', () => {
  const s = stored(1, [svc('web'), svc('db'), svc('cache')]);
  const delta = decideReport(
    s,
    rep(2, [svc('web', { status: 'restarting' })], { kind: 'delta', removedServices: ['cache'] }),
    T0,
  );
  assert.equal(delta.kind, 'changed');
  const next = (delta as { next: StoredDeviceState }).next;
  assert.deepEqual(Object.keys(next.services).sort(), ['db', 'web']);
  assert.equal(next.services.web!.status, 'restarting');
  assert.equal(next.health, 'degraded');
  const full = decideReport(next, rep(3, [svc('api')]), T0);
  assert.deepEqual(Object.keys((full as { next: StoredDeviceState }).next.services), ['api']);
});

test('health and error badges follow the seed error shape', () => {
  const error = {
    type: 'ImagePullBackOff',
    message: 'manifest unknown',
    timestamp: '2025-10-24T10:15:00.000Z',
    retryCount: 3,
    nextRetry: '2025-10-24T10:20:00.000Z',
  };
  const services = Object.fromEntries(
    rep(1, [
      svc('nodered', { status: 'error', error }),
      svc('mosquitto'),
      svc('manual', { status: 'manually-stopped' }),
    ]).services.map((s) => [s.name, s]),
  );
  assert.equal(healthOf(services), 'degraded');
  assert.deepEqual(errorBadges(services), [
    { service: 'nodered', type: 'ImagePullBackOff', nextRetry: '2025-10-24T10:20:00.000Z', retryCount: 3 },
  ]);
  const ok = Object.fromEntries(
    rep(1, [svc('manual', { status: 'manually-stopped' })]).services.map((s) => [s.name, s]),
  );
  assert.equal(healthOf(ok), 'healthy', 'a manual stop is not a fault');
});

test('canonical JSON ignores key order and undefined', () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } }),
    '{"a":{"d":[1,{"x":1,"y":2}]},"b":1}',
  );
});
