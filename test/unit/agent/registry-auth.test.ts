/** Registry credentials on the device (pure parts): matching images to credentials, challenges, refusal messages, ETags. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StepError } from '../../../agent/src/backoff/errors.js';
import { parseChallenge } from '../../../agent/src/engine/disk.js';
import { explainPullError } from '../../../agent/src/engine/pull.js';
import { RegistryCredentials, registryOfImage } from '../../../agent/src/engine/registry-auth.js';
import { deviceTargetTag } from '../../../functions/domain/target-version.js';

test('images find the credential of their registry; Docker Hub goes by one key', () => {
  assert.equal(registryOfImage('nginx:1'), 'docker.io');
  assert.equal(registryOfImage('docker.io/library/nginx'), 'docker.io');
  assert.equal(registryOfImage('ghcr.io/acme/app@sha256:abc'), 'ghcr.io');
  assert.equal(registryOfImage('127.0.0.1:5001/lab/private:1'), '127.0.0.1:5001');
  const c = new RegistryCredentials();
  c.replace({
    hub: { registry: 'index.docker.io', username: 'u', password: 'p' },
    lab: { registry: '127.0.0.1:5001', username: 'lab', password: 's' },
  });
  assert.deepEqual(c.forImage('acme/app:2'), {
    name: 'hub',
    auth: { username: 'u', password: 'p', serveraddress: 'https://index.docker.io/v1/' },
  });
  assert.deepEqual(c.forImage('127.0.0.1:5001/lab/private:1')?.auth.serveraddress, '127.0.0.1:5001');
  assert.equal(c.forImage('ghcr.io/acme/app:1'), undefined);
});

test('replace() tells which registries changed: added, rotated, removed; nothing when equal', () => {
  const c = new RegistryCredentials();
  assert.deepEqual(c.replace({ lab: { registry: 'r:1', username: 'a', password: 'x' } }), ['r:1']);
  assert.deepEqual(c.replace({ lab: { registry: 'r:1', username: 'a', password: 'x' } }), []);
  assert.deepEqual(c.replace({ lab: { registry: 'r:1', username: 'a', password: 'y' } }), ['r:1']);
  assert.deepEqual(c.replace(undefined), ['r:1']);
  assert.deepEqual(c.registries(), []);
  // Two credentials for one registry: the first by name wins, every time.
  c.replace({
    b: { registry: 'r:1', username: 'b', password: 'b' },
    a: { registry: 'r:1', username: 'a', password: 'a' },
  });
  assert.equal(c.forImage('r:1/x')?.name, 'a');
});

test('WWW-Authenticate challenges parse (Basic, Bearer with quoted parameters)', () => {
  assert.deepEqual(parseChallenge('Basic realm="container-lab"'), {
    scheme: 'basic',
    params: { realm: 'container-lab' },
  });
  assert.deepEqual(
    parseChallenge(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
    ),
    {
      scheme: 'bearer',
      params: {
        realm: 'https://auth.docker.io/token',
        service: 'registry.docker.io',
        scope: 'repository:library/nginx:pull',
      },
    },
  );
  assert.equal(parseChallenge(null), undefined);
});

test('a refused pull names the credential tried (never its value), or says none was delivered; other errors pass', () => {
  const refused = new StepError(
    'reading manifest 1 in r:1/lab/private: unauthorized: authentication required',
    'ErrImagePull',
    true,
  );
  const withCred = explainPullError('r:1/lab/private:1', refused, {
    name: 'lab',
    auth: { username: 'lab', password: 'sekrit', serveraddress: 'r:1' },
  });
  assert.match(withCred.message, /registry r:1 refused registry credential 'lab'/);
  assert.match(withCred.message, /registry said: .*unauthorized/);
  assert.ok(!withCred.message.includes('sekrit'));
  assert.equal(withCred.permanent, true);
  assert.match(
    explainPullError('r:1/lab/private:1', refused, undefined).message,
    /no registry credential for r:1 was delivered/,
  );
  const notFound = new StepError('manifest unknown', 'ErrImagePull', true);
  assert.equal(explainPullError('r:1/x:1', notFound, undefined), notFound);
});

test('device ETag: the plain version without credentials; credential versions move it', () => {
  assert.equal(deviceTargetTag('t-1', []), 't-1');
  const a = deviceTargetTag('t-1', [['lab', 'v1']]);
  assert.match(a, /^t-1\.c-[0-9a-f]{16}$/);
  assert.notEqual(deviceTargetTag('t-1', [['lab', 'v2']]), a);
  assert.notEqual(deviceTargetTag('t-1', [['lab', undefined]]), a);
  assert.equal(
    deviceTargetTag('t-1', [
      ['b', '2'],
      ['a', '1'],
    ]),
    deviceTargetTag('t-1', [
      ['a', '1'],
      ['b', '2'],
    ]),
  );
});
