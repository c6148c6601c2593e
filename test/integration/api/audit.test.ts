/**
 * The operator audit trail on moto through the real operator API: every operator action leaves exactly one
 * `operator.action` event with who, when, what and the request's correlation id, readable through the events
 * route; a refused action leaves none; a registry password never reaches it; writing the same audit twice
 * (a retried write) leaves one event.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
before(async () => {
  fx = await createApiFixture({ REGISTRY_CREDENTIAL_CACHE_SECONDS: '0' });
});
after(() => fx.close());

const PASSWORD = 'audit-secret-pa55word-never-logged';

interface AuditEvent {
  eventId: string;
  type: string;
  at: string;
  deviceId?: string;
  correlationId?: string;
  detail: { action: string; by: string; target: { kind: string; id: string }; params: Record<string, unknown> };
}

async function audits(query: Record<string, string> = {}): Promise<AuditEvent[]> {
  const res = await fx.operator({
    method: 'GET',
    path: '/v1/events/recent',
    query: { type: 'operator.action', limit: '500', ...query },
  });
  assert.equal(res.status, 200, res.raw);
  return res.body.events as AuditEvent[];
}

const call = (
  n: number,
  c: { method: 'GET' | 'POST' | 'PUT' | 'DELETE'; path: string; body?: unknown; query?: Record<string, string> },
) => fx.operator({ ...c, headers: { 'x-correlation-id': `audit-${n}` } });

test('every operator action leaves one audit event with who, when, what and its correlation id', async () => {
  const t0 = Date.now();
  const steps: { action: string; target: string; status: number; c: Parameters<typeof call>[1] }[] = [
    {
      action: 'device.register',
      target: 'dev-audit',
      status: 201,
      c: { method: 'POST', path: '/v1/devices', body: { deviceId: 'dev-audit', name: 'Audit box' } },
    },
    {
      action: 'registry-credential.put',
      target: 'lab',
      status: 201,
      c: {
        method: 'PUT',
        path: '/v1/registry-credentials/lab',
        body: { registry: '127.0.0.1:5001', username: 'lab', password: PASSWORD },
      },
    },
    {
      action: 'target.put',
      target: 'dev-audit',
      status: 200,
      c: { method: 'PUT', path: '/v1/devices/dev-audit/target', body: { services: { web: { image: 'lab/web:1' } } } },
    },
    {
      action: 'marker.set',
      target: 'dev-audit/web',
      status: 201,
      c: {
        method: 'POST',
        path: '/v1/devices/dev-audit/markers',
        body: { service: 'web', kind: 'maintenance', durationSeconds: 600, reason: 'disk swap' },
      },
    },
    {
      action: 'marker.delete',
      target: 'dev-audit/web',
      status: 204,
      c: { method: 'DELETE', path: '/v1/devices/dev-audit/markers', query: { service: 'web' } },
    },
    {
      action: 'circuit.reset',
      target: 'dev-audit',
      status: 200,
      c: { method: 'POST', path: '/v1/devices/dev-audit/circuit/reset' },
    },
    {
      action: 'job.enqueue',
      target: '',
      status: 202,
      c: {
        method: 'POST',
        path: '/v1/devices/dev-audit/jobs',
        body: { type: 'restart-service', params: { service: 'web' } },
      },
    },
    {
      action: 'silence.create',
      target: '',
      status: 201,
      c: {
        method: 'POST',
        path: '/v1/silences',
        body: { matchers: [{ name: 'deviceId', value: 'dev-audit' }], durationSeconds: 600, comment: 'audit test' },
      },
    },
    {
      action: 'dlq.redrive',
      target: 'jobs',
      status: 200,
      c: { method: 'POST', path: '/v1/dlq/redrive', body: { queue: 'jobs' } },
    },
    {
      action: 'device.token.rotate',
      target: 'dev-audit',
      status: 200,
      c: { method: 'POST', path: '/v1/devices/dev-audit/token/rotate', body: {} },
    },
  ];
  const answers: Record<string, any> = {};
  for (const [i, s] of steps.entries()) {
    const res = await call(i, s.c);
    assert.equal(res.status, s.status, `${s.action}: ${res.raw}`);
    answers[s.action] = res.body;
  }
  const jobId = answers['job.enqueue'].jobId as string;
  const silenceId = answers['silence.create'].silenceId as string;
  const later: { action: string; target: string; c: Parameters<typeof call>[1] }[] = [
    { action: 'job.cancel', target: jobId, c: { method: 'POST', path: `/v1/jobs/${jobId}/cancel` } },
    { action: 'silence.expire', target: silenceId, c: { method: 'DELETE', path: `/v1/silences/${silenceId}` } },
    {
      action: 'registry-credential.delete',
      target: 'lab',
      c: { method: 'DELETE', path: '/v1/registry-credentials/lab' },
    },
    { action: 'device.decommission', target: 'dev-audit', c: { method: 'DELETE', path: '/v1/devices/dev-audit' } },
  ];
  for (const [i, s] of later.entries()) {
    const res = await call(steps.length + i, s.c);
    assert.ok(res.status < 300, `${s.action}: ${res.status} ${res.raw}`);
  }
  steps[6]!.target = jobId;
  steps[7]!.target = silenceId;
  const all = [...steps, ...later];

  const events = await audits();
  assert.equal(events.length, all.length, JSON.stringify(events.map((e) => e.detail.action)));
  for (const [i, s] of all.entries()) {
    const found = events.filter((e) => e.correlationId === `audit-${i}`);
    assert.equal(found.length, 1, `${s.action}: one event for its request`);
    const e = found[0]!;
    assert.equal(e.type, 'operator.action');
    assert.equal(e.detail.action, s.action);
    assert.equal(e.detail.target.id, s.target, s.action);
    assert.equal(e.detail.by, 'operator:operator', 'who: the authenticated operator');
    assert.ok(Date.parse(e.at) >= t0 - 1000 && Date.parse(e.at) <= Date.now() + 1000, `${s.action}: when`);
  }
  const byAction = (a: string) => events.find((e) => e.detail.action === a)!;
  assert.deepEqual(byAction('registry-credential.put').detail.params, {
    registry: '127.0.0.1:5001',
    username: 'lab',
    created: true,
  });
  assert.equal(byAction('marker.set').detail.params.reason, 'disk swap');
  assert.equal(byAction('job.enqueue').deviceId, 'dev-audit', 'device actions list under the device too');
  assert.ok(!JSON.stringify(events).includes(PASSWORD), 'the registry password is nowhere in the trail');
  // The device's own history has its actions (the decommissioned device keeps its events until they expire).
  const mine = await audits({ deviceId: 'dev-audit' });
  assert.ok(mine.some((e) => e.detail.action === 'device.register'));
});

test('a refused or failed action leaves no audit event', async () => {
  const before = (await audits()).length;
  const refused = [
    await call(100, { method: 'POST', path: '/v1/devices/nope/circuit/reset' }),
    await call(101, { method: 'DELETE', path: '/v1/silences/sil_000000000000000000000000' }),
    await call(102, { method: 'DELETE', path: '/v1/registry-credentials/nope' }),
    await call(103, {
      method: 'POST',
      path: '/v1/devices/nope/jobs',
      body: { type: 'restart-service', params: { service: 'web' } },
    }),
    await call(104, { method: 'PUT', path: '/v1/devices/nope/target', body: { services: {} } }),
  ];
  for (const r of refused) assert.equal(r.status, 404, r.raw);
  const dry = await call(105, { method: 'POST', path: '/v1/dlq/redrive', body: { dryRun: true } });
  assert.equal(dry.status, 200, 'a dry run changes nothing, so it is not audited');
  assert.equal((await audits()).length, before);
});

test('writing the same audit event again (a retried write) leaves one event; secret-looking params are redacted', async () => {
  const { recordOperatorAction } = await import('../../../functions/services/audit.js');
  const who = { by: 'operator:test', correlationId: 'audit-retry', now: Date.now() };
  const action = {
    action: 'test.action',
    target: { kind: 'device' as const, id: 'dev-r' },
    params: { password: 'p', nested: { apiToken: 't' }, registryCredentials: ['a'] },
  };
  await recordOperatorAction(action, who);
  await recordOperatorAction(action, who);
  const found = (await audits()).filter((e) => e.correlationId === 'audit-retry');
  assert.equal(found.length, 1);
  assert.deepEqual(found[0]!.detail.params, {
    password: '[redacted]',
    nested: { apiToken: '[redacted]' },
    registryCredentials: ['a'],
  });
});
