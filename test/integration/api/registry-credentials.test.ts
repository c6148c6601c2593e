/**
 * Private registry credentials through the real handlers on moto (Secrets Manager + DynamoDB): operators store
 * and rotate them without ever getting the value back; a target names them; only the device whose target names
 * a credential gets it, with its target; a rotation changes that device's ETag; a name that does not exist is a
 * 400 that writes nothing; the value is in no stored item, no operator answer and no log line.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
let tokenA = '';
let tokenB = '';
/** Everything the handlers log (Powertools writes JSON lines to stdout). */
const logged: string[] = [];
const realWrite = process.stdout.write.bind(process.stdout);
const PASSWORD_1 = `pw1-${randomBytes(12).toString('hex')}`;
const PASSWORD_2 = `pw2-${randomBytes(12).toString('hex')}`;
const privateTarget = (names: string[] = ['lab']) => ({
  services: { web: { image: '127.0.0.1:5001/lab/private:1' } },
  registryCredentials: names,
});

before(async () => {
  // Cache TTL 0: every fetch reads Secrets Manager, so a rotation shows at once (the TTL itself is unit-sized logic).
  fx = await createApiFixture({ POWERTOOLS_LOG_LEVEL: 'DEBUG', REGISTRY_CREDENTIAL_CACHE_SECONDS: '0' });
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    logged.push(String(chunk));
    return (realWrite as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  tokenA = await fx.register('dev-a');
  tokenB = await fx.register('dev-b');
});
after(async () => {
  process.stdout.write = realWrite;
  await fx.close();
});

test('storing a credential: 201, then 200 on rotation; the value is encrypted in Secrets Manager and never answered', async () => {
  const put = await fx.operator({
    method: 'PUT',
    path: '/v1/registry-credentials/lab',
    body: { registry: '127.0.0.1:5001', username: 'lab', password: PASSWORD_1 },
  });
  assert.equal(put.status, 201, put.raw);
  assert.deepEqual(
    { ...put.body, updatedAt: undefined },
    { name: 'lab', registry: '127.0.0.1:5001', created: true, updatedAt: undefined },
  );
  assert.equal(put.headers['cache-control'], 'no-store');
  assert.ok(!put.raw!.includes(PASSWORD_1));

  const sm = new SecretsManagerClient({});
  const stored = await sm.send(new GetSecretValueCommand({ SecretId: `${process.env.REGISTRY_SECRET_PREFIX}lab` }));
  sm.destroy();
  assert.deepEqual(JSON.parse(stored.SecretString!), {
    registry: '127.0.0.1:5001',
    username: 'lab',
    password: PASSWORD_1,
  });

  const again = await fx.operator({
    method: 'PUT',
    path: '/v1/registry-credentials/lab',
    body: { registry: '127.0.0.1:5001', username: 'lab', password: PASSWORD_1 },
  });
  assert.equal(again.status, 200);
  assert.equal(again.body.created, false);
});

test('only the device whose target names the credential gets it, with its target', async () => {
  const setA = await fx.operator({ method: 'PUT', path: '/v1/devices/dev-a/target', body: privateTarget() });
  assert.equal(setA.status, 200, setA.raw);
  assert.ok(!setA.raw!.includes(PASSWORD_1), 'the operator answer has the name only');
  assert.equal(setA.body.registryAuth, undefined);
  const setB = await fx.operator({
    method: 'PUT',
    path: '/v1/devices/dev-b/target',
    body: { services: { web: { image: 'lab/busybox:1' } } },
  });
  assert.equal(setB.status, 200);

  const a = await fx.device({ method: 'GET', path: '/v1/devices/dev-a/target', token: tokenA });
  assert.equal(a.status, 200);
  assert.deepEqual(a.body.registryAuth, { lab: { registry: '127.0.0.1:5001', username: 'lab', password: PASSWORD_1 } });
  assert.deepEqual(a.body.target.registryCredentials, ['lab']);
  assert.equal(a.headers['cache-control'], 'no-store');
  assert.notEqual(a.headers.etag, `"${a.body.version}"`, 'the ETag covers the credential version too');
  const unchanged = await fx.device({
    method: 'GET',
    path: '/v1/devices/dev-a/target',
    token: tokenA,
    headers: { 'if-none-match': a.headers.etag! },
  });
  assert.equal(unchanged.status, 304);

  const b = await fx.device({ method: 'GET', path: '/v1/devices/dev-b/target', token: tokenB });
  assert.equal(b.status, 200);
  assert.equal(b.body.registryAuth, undefined);
  assert.ok(!b.raw!.includes(PASSWORD_1));
  assert.equal(b.headers.etag, `"${b.body.version}"`, 'targets without credentials keep their plain ETag');
  // dev-b cannot read dev-a's target (and with it the credential).
  const cross = await fx.device({ method: 'GET', path: '/v1/devices/dev-a/target', token: tokenB });
  assert.equal(cross.status, 403);
  assert.ok(!cross.raw!.includes(PASSWORD_1));

  // Stored items and the operator's view carry the name, never the value.
  const item = await fx.doc.send(
    new GetCommand({ TableName: fx.infra.env.FLEET_TABLE, Key: { pk: 'DEVICE#dev-a', sk: 'TARGET' } }),
  );
  assert.deepEqual(item.Item?.target.registryCredentials, ['lab']);
  assert.ok(!(await fx.snapshot()).includes(PASSWORD_1));
  const detail = await fx.operator({ method: 'GET', path: '/v1/devices/dev-a' });
  assert.equal(detail.status, 200);
  assert.ok(!detail.raw!.includes(PASSWORD_1));
});

test('the sync route serves the same: credentials for the device whose target names them, with the same ETag', async () => {
  const report = (deviceId: string, seq: number) => ({
    deviceId,
    seq,
    kind: 'full',
    agentVersion: '1.0.0',
    uptimeSeconds: 5,
    sentAt: new Date().toISOString(),
    services: [],
  });
  const viaGet = await fx.device({ method: 'GET', path: '/v1/devices/dev-a/target', token: tokenA });
  const a = await fx.device({
    method: 'POST',
    path: '/v1/devices/dev-a/sync',
    token: tokenA,
    body: { report: report('dev-a', 1) },
  });
  assert.equal(a.status, 200, a.raw);
  assert.equal(a.body.target.changed, true);
  assert.equal(a.body.target.etag, viaGet.headers.etag);
  assert.deepEqual(a.body.target.document.registryAuth, viaGet.body.registryAuth);
  const again = await fx.device({
    method: 'POST',
    path: '/v1/devices/dev-a/sync',
    token: tokenA,
    body: { report: report('dev-a', 2), targetEtag: a.body.target.etag },
  });
  assert.equal(again.body.target.changed, false);
  assert.equal(again.body.target.document, undefined);
  const b = await fx.device({
    method: 'POST',
    path: '/v1/devices/dev-b/sync',
    token: tokenB,
    body: { report: report('dev-b', 1) },
  });
  assert.equal(b.status, 200, b.raw);
  assert.equal(b.body.target.document.registryAuth, undefined);
  assert.ok(!b.raw!.includes(PASSWORD_1));
});

test('a rotation reaches the device: same target version, new ETag, new password', async () => {
  const before = await fx.device({ method: 'GET', path: '/v1/devices/dev-a/target', token: tokenA });
  const rot = await fx.operator({
    method: 'PUT',
    path: '/v1/registry-credentials/lab',
    body: { registry: '127.0.0.1:5001', username: 'lab', password: PASSWORD_2 },
  });
  assert.equal(rot.status, 200);
  const after = await fx.device({
    method: 'GET',
    path: '/v1/devices/dev-a/target',
    token: tokenA,
    headers: { 'if-none-match': before.headers.etag! },
  });
  assert.equal(after.status, 200, 'the old ETag no longer matches');
  assert.equal(after.body.version, before.body.version, 'the target itself did not change');
  assert.notEqual(after.headers.etag, before.headers.etag);
  assert.equal(after.body.registryAuth.lab.password, PASSWORD_2);
});

test('a target naming an unknown credential is a 400 that writes nothing', async () => {
  const beforeSnap = await fx.snapshot();
  for (const names of [['nope'], ['lab', 'nope']]) {
    const res = await fx.operator({ method: 'PUT', path: '/v1/devices/dev-b/target', body: privateTarget(names) });
    assert.equal(res.status, 400, res.raw);
    assert.equal(res.body.error, 'validation_failed');
    assert.match(res.body.message, /unknown registry credential 'nope'/);
    assert.deepEqual(
      res.body.details.issues.map((i: { path: string }) => i.path),
      [`registryCredentials.${names.length - 1}`],
    );
  }
  const dup = await fx.operator({
    method: 'PUT',
    path: '/v1/devices/dev-b/target',
    body: privateTarget(['lab', 'lab']),
  });
  assert.equal(dup.status, 400);
  const badName = await fx.operator({
    method: 'PUT',
    path: '/v1/devices/dev-b/target',
    body: privateTarget(['Not_A_Name']),
  });
  assert.equal(badName.status, 400);
  assert.equal(await fx.snapshot(), beforeSnap);
});

test('bad credential bodies are 400s that echo no value', async () => {
  const cases = [
    { registry: '127.0.0.1:5001', username: 'lab' },
    { registry: 'https://127.0.0.1:5001/', username: 'lab', password: PASSWORD_1 },
    { registry: '127.0.0.1:5001', username: '', password: PASSWORD_1 },
    { registry: '127.0.0.1:5001', username: 'lab', password: PASSWORD_1, email: 'x@y' },
  ];
  for (const body of cases) {
    const res = await fx.operator({ method: 'PUT', path: '/v1/registry-credentials/other', body });
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.ok(!res.raw!.includes(PASSWORD_1));
  }
  const check = await fx.operator({ method: 'PUT', path: '/v1/devices/dev-b/target', body: privateTarget(['other']) });
  assert.equal(check.status, 400, 'nothing was stored under that name');
});

test('deleting a credential: 204, then 404; its device stops getting it; new targets cannot name it', async () => {
  const before = await fx.device({ method: 'GET', path: '/v1/devices/dev-a/target', token: tokenA });
  const del = await fx.operator({ method: 'DELETE', path: '/v1/registry-credentials/lab' });
  assert.equal(del.status, 204);
  const again = await fx.operator({ method: 'DELETE', path: '/v1/registry-credentials/lab' });
  assert.equal(again.status, 404);
  const a = await fx.device({
    method: 'GET',
    path: '/v1/devices/dev-a/target',
    token: tokenA,
    headers: { 'if-none-match': before.headers.etag! },
  });
  assert.equal(a.status, 200, 'the ETag changed with the deletion');
  assert.equal(a.body.registryAuth, undefined);
  const res = await fx.operator({ method: 'PUT', path: '/v1/devices/dev-b/target', body: privateTarget() });
  assert.equal(res.status, 400);
});

test('no password in any log line', () => {
  assert.ok(logged.length > 0, 'the handlers logged (DEBUG) during these tests');
  const all = logged.join('');
  assert.ok(!all.includes(PASSWORD_1) && !all.includes(PASSWORD_2));
});
