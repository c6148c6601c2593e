/**
 * The agent picks up a rotated device token without a restart: its API client asks the token file before each
 * call (agent/src/token-file.ts). Real parts: the local fleet's handlers behind the local API gateway on moto,
 * the agent's real CloudApi over HTTP, and the CLI's atomic token-file write. The old token is revoked at once
 * (overlap 0, credentials cache off), so a successful call proves the new token was sent.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CloudApi, CloudUnavailable } from '../../agent/src/cloud/api-client.js';
import { TokenFile } from '../../agent/src/token-file.js';
import { writeTokenFile } from '../../functions/cli/device-lifecycle.js';
import { startFleet, type Fleet } from '../../local/fleet.js';
import { newOperatorToken } from '../../local/secrets.js';
import { ensureEmulator, type Emulator } from '../support/moto.js';

const dir = mkdtempSync(join(tmpdir(), 'fm-token-rotation-'));
let emulator: Emulator;
let fleet: Fleet;

before(async () => {
  emulator = await ensureEmulator();
  fleet = await startFleet({
    prefix: `tok${randomBytes(3).toString('hex')}`,
    operatorToken: newOperatorToken(),
    slackPrint: null,
    scheduleSeconds: 3600,
    pollWaitSeconds: 1,
    log: () => {},
    env: { DEVICE_CREDENTIALS_CACHE_SECONDS: '0' },
  });
});
after(async () => {
  await fleet.close();
  await emulator.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function operator(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${fleet.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${fleet.operatorToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(res.ok, `${method} ${path}: ${res.status}`);
  return res.json();
}

test('a token rotated into the file is used from the next call on, without a new client', async () => {
  const deviceId = 'agent-rotating';
  const { token } = await operator('POST', '/v1/devices', { deviceId });
  const file = join(dir, 'token');
  writeTokenFile(file, token);
  const changes: string[] = [];
  const tokenFile = new TokenFile(file, (p) => changes.push(p));
  const api = new CloudApi({ baseUrl: fleet.apiUrl, deviceId, token: () => tokenFile.current() });
  assert.deepEqual(await api.pendingJobs(), []);

  const rotated = await operator('POST', `/v1/devices/${deviceId}/token/rotate`, { overlapSeconds: 0 });
  // The old token no longer works...
  await assert.rejects(api.pendingJobs(), (err: unknown) => err instanceof CloudUnavailable && err.status === 401);
  // ...and once the new one is in the file, the same client works again.
  writeTokenFile(file, rotated.token);
  assert.deepEqual(await api.pendingJobs(), []);
  assert.deepEqual(changes, [file]);
});

test('a token file that is briefly empty or missing keeps the last good token in use', () => {
  const file = join(dir, 'token-edit');
  writeFileSync(file, 'dev-a.first\n');
  const tf = new TokenFile(file);
  assert.equal(tf.current(), 'dev-a.first');
  writeFileSync(file, '');
  assert.equal(tf.current(), 'dev-a.first', 'empty: kept');
  unlinkSync(file);
  assert.equal(tf.current(), 'dev-a.first', 'missing: kept');
  writeFileSync(file, '  dev-a.second \n');
  assert.equal(tf.current(), 'dev-a.second');
  assert.throws(() => new TokenFile(join(dir, 'nope')), /ENOENT/);
  writeFileSync(join(dir, 'empty'), '\n');
  assert.throws(() => new TokenFile(join(dir, 'empty')), /is empty/);
});
