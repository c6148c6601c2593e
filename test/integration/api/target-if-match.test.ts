/**
 * Optimistic concurrency for target changes: PUT /v1/devices/{id}/target honours If-Match (412 on a version
 * that is no longer current, nothing written), and the device detail shows the current target and its version.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
before(async () => {
  fx = await createApiFixture();
  await fx.register('dev-tgt');
});
after(() => fx.close());

const target = (image: string) => ({ services: { web: { image } } });
const put = (body: unknown, ifMatch?: string) =>
  fx.operator({
    method: 'PUT',
    path: '/v1/devices/dev-tgt/target',
    body,
    ...(ifMatch !== undefined ? { headers: { 'if-match': ifMatch } } : {}),
  });

test('If-Match: two operators editing one target cannot overwrite each other', async () => {
  // No target yet: `*` (some target exists) fails, and so does any version.
  assert.equal((await put(target('lab/web:1'), '*')).status, 412);
  assert.equal((await put(target('lab/web:1'), '"t-0000"')).status, 412);

  const first = await put(target('lab/web:1'));
  assert.equal(first.status, 200, first.raw);
  const v1 = first.body.version as string;
  assert.equal(first.headers.etag, `"${v1}"`);

  // Both operators read v1; the first change wins, the second is refused and writes nothing.
  const detail = await fx.operator({ method: 'GET', path: '/v1/devices/dev-tgt' });
  assert.equal(detail.body.target.version, v1, 'the device detail shows the current target and its version');
  const a = await put(target('lab/web:2'), `"${v1}"`);
  assert.equal(a.status, 200, a.raw);
  const before = await fx.snapshot();
  const b = await put(target('lab/web:3'), `"${v1}"`);
  assert.equal(b.status, 412, b.raw);
  assert.equal(b.body.error, 'precondition_failed');
  assert.equal(b.body.details.currentVersion, a.body.version);
  assert.equal(b.headers.etag, `"${a.body.version}"`);
  assert.equal(await fx.snapshot(), before, 'a refused change writes nothing');

  // Weak tags never match If-Match (strong comparison); `*` and a list holding the current tag do.
  assert.equal((await put(target('lab/web:3'), `W/"${a.body.version}"`)).status, 412);
  assert.equal((await put(target('lab/web:3'), `"t-other", "${a.body.version}"`)).status, 200);
  assert.equal((await put(target('lab/web:4'), '*')).status, 200);
  // Without If-Match the change is unconditional, as before.
  assert.equal((await put(target('lab/web:5'))).status, 200);
});
