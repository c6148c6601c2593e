/**
 * The device auth path's cost and limits through the real device-api handler on moto, with the production
 * credentials cache: DynamoDB reads saved (counted by the auth path itself), malformed tokens refused without a
 * read, an unknown device read at most once per refresh floor, a rotated token picked up without waiting for the
 * TTL, and the per-device request budget (429 + Retry-After for the noisy device only, nothing written).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
let credentialsCache: typeof import('../../../functions/http/device-auth.js').credentialsCache;
before(async () => {
  // A small budget so the test reaches it: 30 at once, then one per 20 s.
  fx = await createApiFixture({ DEVICE_REQUEST_BURST: '30', DEVICE_REQUEST_RATE_PER_SECOND: '0.05' });
  // Imported after the fixture set the environment (the handlers read it at import), as the handlers are.
  ({ credentialsCache } = await import('../../../functions/http/device-auth.js'));
});
after(() => fx.close());

const poll = (deviceId: string, token: string) =>
  fx.device({ method: 'GET', path: `/v1/devices/${deviceId}/jobs/pending`, token });
const reads = () => credentialsCache().stats.reads;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a device polling 20 times costs one credentials read, not 20', async () => {
  const token = await fx.register('dev-cached');
  const before = reads();
  for (let i = 0; i < 20; i++) assert.equal((await poll('dev-cached', token)).status, 200);
  // The first request reads; the other 19 are answered from the cache (its TTL is a minute; a loaded machine
  // could at worst need a second read if the 20 requests took longer than that).
  assert.ok(reads() - before <= 2, `${reads() - before} reads for 20 requests`);
  assert.ok(reads() - before >= 1);
});

test('malformed tokens are refused without any read; an unknown device is read at most once per refresh floor', async () => {
  const before = reads();
  const malformed = [
    'garbage',
    `dev-cached.${'A'.repeat(42)}`,
    `dev-cached.${'A'.repeat(44)}`,
    `DEV_BAD!.${'A'.repeat(43)}`,
    `dev-cached.${'A'.repeat(42)}!`,
    `.${'A'.repeat(43)}`,
  ];
  for (const t of malformed) {
    const res = await poll('dev-cached', t);
    assert.equal(res.status, 401, t);
    assert.equal(res.body.error, 'unauthorized');
  }
  assert.equal(reads(), before, 'no read for a malformed token');

  const unknown = `dev-nobody.${'B'.repeat(43)}`;
  const started = Date.now();
  const first = await poll('dev-nobody', unknown);
  assert.equal(first.status, 401);
  assert.equal(reads(), before + 1, 'an unknown device costs one read');
  // Repeats within the refresh floor (1 s) cost nothing more; whatever the machine's speed, count only those.
  let within = 0;
  while (Date.now() - started < 900 && within < 10) {
    assert.equal((await poll('dev-nobody', unknown)).status, 401);
    within++;
  }
  assert.ok(reads() - before <= 2, `${reads() - before} reads for ${within + 1} attempts`);
});

test('a wrong secret for a real device does not evict or spend that device', async () => {
  const token = await fx.register('dev-victim');
  assert.equal((await poll('dev-victim', token)).status, 200);
  for (let i = 0; i < 40; i++) assert.equal((await poll('dev-victim', `dev-victim.${'C'.repeat(43)}`)).status, 401);
  // 40 refused attempts, more than the budget of 30: the real device's budget is untouched.
  assert.equal((await poll('dev-victim', token)).status, 200);
});

test('a rotated token works as soon as the refresh floor has passed, though the old one was cached', async () => {
  const old = await fx.register('dev-rotating');
  assert.equal((await poll('dev-rotating', old)).status, 200);
  const rotated = await fx.operator({
    method: 'POST',
    path: '/v1/devices/dev-rotating/token/rotate',
    body: { overlapSeconds: 600 },
  });
  assert.equal(rotated.status, 200);
  await sleep(1100);
  const before = reads();
  assert.equal((await poll('dev-rotating', rotated.body.token)).status, 200);
  assert.equal(reads(), before + 1, 'one consistent re-read');
  assert.equal((await poll('dev-rotating', old)).status, 200, 'the old one, in its overlap, too');
  assert.equal(reads(), before + 1);
});

test('a renewal in this container needs no wait: its cached entry is dropped', async () => {
  const old = await fx.register('dev-renewing');
  assert.equal((await poll('dev-renewing', old)).status, 200);
  const renewed = await fx.device({ method: 'POST', path: '/v1/devices/dev-renewing/token/renew', token: old });
  assert.equal(renewed.status, 200);
  assert.equal((await poll('dev-renewing', renewed.body.token)).status, 200);
});

test('a device over its budget gets 429 with Retry-After and nothing written; other devices are unaffected', async () => {
  const noisy = await fx.register('dev-noisy');
  const calm = await fx.register('dev-calm');
  let ok = 0;
  let refused: Awaited<ReturnType<typeof poll>> | undefined;
  for (let i = 0; i < 40 && !refused; i++) {
    const res = await poll('dev-noisy', noisy);
    if (res.status === 200) ok++;
    else refused = res;
  }
  // 30 at once, plus whatever the 1-per-20-s refill added while the loop ran.
  assert.ok(refused, 'the budget was reached');
  assert.ok(ok >= 30 && ok <= 32, `${ok} accepted`);
  assert.equal(refused.status, 429);
  assert.equal(refused.body.error, 'too_many_requests');
  const retryAfter = Number(refused.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 20, refused.headers['retry-after']);
  assert.equal(refused.body.details.retryAfterSeconds, retryAfter);

  // Refused before the body is parsed or anything stored.
  const snapshot = await fx.snapshot();
  const report = {
    deviceId: 'dev-noisy',
    seq: 1,
    kind: 'full',
    agentVersion: '1',
    uptimeSeconds: 1,
    sentAt: new Date().toISOString(),
    services: [],
  };
  const post = await fx.device({ method: 'POST', path: '/v1/devices/dev-noisy/reports', token: noisy, body: report });
  assert.equal(post.status, 429);
  const garbage = await fx.device({
    method: 'POST',
    path: '/v1/devices/dev-noisy/reports',
    token: noisy,
    body: '{not json',
  });
  assert.equal(garbage.status, 429, 'the budget is checked before the body is parsed');
  assert.equal(await fx.snapshot(), snapshot);

  assert.equal((await poll('dev-calm', calm)).status, 200, 'another device is unaffected');
});
