/** Registration and authentication through the real handlers on moto: tokens, hashes, 401/403, operator auth modes. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
before(async () => {
  fx = await createApiFixture();
});
after(() => fx.close());

const report = (deviceId: string, seq: number) => ({
  deviceId,
  seq,
  kind: 'full',
  agentVersion: '1.0.0',
  uptimeSeconds: 5,
  sentAt: new Date().toISOString(),
  services: [],
});

test('registration returns the token once and stores only a salted hash of it', async () => {
  const res = await fx.operator({
    method: 'POST',
    path: '/v1/devices',
    body: { deviceId: 'dev-reg', name: 'Kiosk 1', labels: { site: 'lab' } },
  });
  assert.equal(res.status, 201);
  assert.equal(res.body.deviceId, 'dev-reg');
  assert.match(res.body.token, /^dev-reg\.[A-Za-z0-9_-]{40,}$/);
  assert.equal(res.headers['cache-control'], 'no-store');
  const secret = res.body.token.split('.')[1];

  const { Item } = await fx.doc.send(
    new GetCommand({ TableName: fx.infra.env.FLEET_TABLE, Key: { pk: 'DEVICE#dev-reg', sk: 'META' } }),
  );
  assert.ok(Item);
  assert.match(Item.tokenHash, /^[0-9a-f]{64}$/);
  assert.match(Item.tokenSalt, /^[0-9a-f]{32}$/);
  const stored = JSON.stringify(Item);
  assert.ok(!stored.includes(secret), 'the secret part of the token is not stored');
  assert.ok(!stored.includes(res.body.token), 'the token is not stored');

  // Registering again: 409, and no second token handed out.
  const again = await fx.operator({ method: 'POST', path: '/v1/devices', body: { deviceId: 'dev-reg' } });
  assert.equal(again.status, 409);
  assert.equal(again.body.error, 'already_exists');
  assert.equal(again.body.token, undefined);

  // The token works for its device.
  const ok = await fx.device({
    method: 'POST',
    path: '/v1/devices/dev-reg/reports',
    token: res.body.token,
    body: report('dev-reg', 1),
  });
  assert.equal(ok.status, 200);
});

test('missing, malformed and wrong device tokens answer 401 with the same message', async () => {
  const token = await fx.register('dev-auth');
  const wrongSecret = `${token.split('.')[0]}.${'A'.repeat(43)}`;
  const cases: [string, string | undefined][] = [
    ['missing', undefined],
    ['not a device token', 'garbage'],
    ['wrong secret', wrongSecret],
    ['unknown device', `dev-nobody.${'B'.repeat(43)}`],
  ];
  for (const [name, t] of cases) {
    const res = await fx.device({
      method: 'GET',
      path: '/v1/devices/dev-auth/jobs/pending',
      ...(t ? { token: t } : {}),
    });
    assert.equal(res.status, 401, name);
    assert.equal(res.body.error, 'unauthorized', name);
    assert.equal(res.headers['www-authenticate'], 'Bearer', name);
  }
  const basic = await fx.device({
    method: 'GET',
    path: '/v1/devices/dev-auth/jobs/pending',
    headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` },
  });
  assert.equal(basic.status, 401);
});

test("a device cannot touch another device's resources (403) on any device route", async () => {
  const a = await fx.register('dev-a');
  await fx.register('dev-b');
  const calls = [
    { method: 'POST' as const, path: '/v1/devices/dev-b/reports', body: report('dev-b', 1) },
    { method: 'GET' as const, path: '/v1/devices/dev-b/jobs/pending' },
    {
      method: 'PUT' as const,
      path: '/v1/devices/dev-b/jobs/job_ABCDEFGHIJKL',
      body: { status: 'IN_PROGRESS', expectedVersion: 1 },
    },
    { method: 'GET' as const, path: '/v1/devices/dev-b/target' },
  ];
  for (const c of calls) {
    const res = await fx.device({ ...c, token: a });
    assert.equal(res.status, 403, `${c.method} ${c.path}`);
    assert.equal(res.body.error, 'forbidden');
  }
  // Its own path but another device in the body: also forbidden.
  const spoof = await fx.device({
    method: 'POST',
    path: '/v1/devices/dev-a/reports',
    token: a,
    body: report('dev-b', 1),
  });
  assert.equal(spoof.status, 403);
});

test('operator routes need the operator token from the secret; device tokens do not work there', async () => {
  const dev = await fx.register('dev-op');
  for (const token of ['', 'nope', dev]) {
    const res = await fx.operator({ method: 'GET', path: '/v1/devices', token });
    assert.equal(res.status, 401, `token '${token.slice(0, 8)}'`);
  }
  const ok = await fx.operator({ method: 'GET', path: '/v1/devices' });
  assert.equal(ok.status, 200);
  assert.ok(ok.body.devices.some((d: { deviceId: string }) => d.deviceId === 'dev-op'));
  // The public health route needs nothing.
  const health = await fx.operator({ method: 'GET', path: '/v1/health', token: '' });
  assert.equal(health.status, 200);
  assert.equal(health.body.status, 'ok');
});

test('correlation id: echoed when given, generated when absent or malformed', async () => {
  const given = await fx.operator({
    method: 'GET',
    path: '/v1/health',
    headers: { 'X-Correlation-Id': 'incident-42' },
  });
  assert.equal(given.headers['x-correlation-id'], 'incident-42');
  const generated = await fx.operator({ method: 'GET', path: '/v1/health' });
  assert.match(generated.headers['x-correlation-id']!, /^[0-9a-f-]{36}$/);
  const bad = await fx.operator({
    method: 'GET',
    path: '/v1/health',
    headers: { 'x-correlation-id': 'has spaces <script>' },
  });
  assert.notEqual(bad.headers['x-correlation-id'], 'has spaces <script>');
  // Errors carry it too.
  const err = await fx.operator({
    method: 'GET',
    path: '/v1/devices',
    token: 'x',
    headers: { 'x-correlation-id': 'c-err' },
  });
  assert.equal(err.status, 401);
  assert.equal(err.headers['x-correlation-id'], 'c-err');
});

test('IAM mode trusts only API Gateway’s IAM authorizer context', async () => {
  process.env.OPERATOR_AUTH = 'iam';
  try {
    const without = await fx.operator({ method: 'GET', path: '/v1/devices' });
    assert.equal(without.status, 401, 'a bearer token is not enough in IAM mode');
    const withIam = await fx.operator({
      method: 'GET',
      path: '/v1/devices',
      token: '',
      iam: { userArn: 'arn:aws:iam::123456789012:user/ops' },
    });
    assert.equal(withIam.status, 200);
  } finally {
    process.env.OPERATOR_AUTH = 'bearer';
  }
});

test('unknown routes and methods: 404 and 405 with Allow', async () => {
  const nf = await fx.operator({ method: 'GET', path: '/v1/nothing-here' });
  assert.equal(nf.status, 404);
  assert.equal(nf.body.error, 'not_found');
  const na = await fx.operator({ method: 'PATCH', path: '/v1/devices' });
  assert.equal(na.status, 405);
  assert.equal(na.body.error, 'method_not_allowed');
  assert.match(na.headers.allow!, /GET/);
  // A device route sent to the operator function is not served there.
  const wrongFn = await fx.operator({ method: 'GET', path: '/v1/devices/dev-op/target' });
  assert.equal(wrongFn.status, 404);
});
