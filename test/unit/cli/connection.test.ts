import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConnection } from '../../../functions/cli/connection.js';
import {
  POINTER_FILE,
  removeStateDirPointer,
  writeLocalConfig,
  writeStateDirPointer,
} from '../../../functions/cli/local-config.js';

const root = mkdtempSync(join(tmpdir(), 'fm-conn-'));
const other = join(root, 'elsewhere');
const project = join(root, 'project');
mkdirSync(project, { recursive: true });
writeLocalConfig(
  {
    apiUrl: 'http://127.0.0.1:47999',
    operatorToken: 'op-local',
    prefix: 'p',
    endpoint: 'http://127.0.0.1:1',
    pid: process.pid,
  },
  other,
);

test('a fleet started with --state-dir is found from the default directory (no FLEETMEDIC_LOCAL_DIR)', () => {
  process.chdir(project);
  writeStateDirPointer(join(project, '.fleetmedic'), { stateDir: other, pid: process.pid });
  try {
    const c = resolveConnection({}, {});
    assert.equal(c.apiUrl, 'http://127.0.0.1:47999');
    assert.deepEqual(c.auth, { kind: 'bearer', token: 'op-local' });
    // --api-url naming that local fleet uses its operator token, not SigV4.
    assert.deepEqual(resolveConnection({ apiUrl: 'http://127.0.0.1:47999/' }, {}).auth, {
      kind: 'bearer',
      token: 'op-local',
    });
  } finally {
    removeStateDirPointer(join(project, '.fleetmedic'), process.pid);
  }
});

test('FLEETMEDIC_LOCAL_DIR names the directory directly', () => {
  const c = resolveConnection({}, { FLEETMEDIC_LOCAL_DIR: other });
  assert.deepEqual(c.auth, { kind: 'bearer', token: 'op-local' });
});

test('a loopback --api-url whose token is unknown fails to sign with a hint at how to find the local fleet', async () => {
  process.chdir(project);
  const { ApiClient } = await import('../../../functions/cli/api-client.js');
  const saved = { ...process.env };
  try {
    for (const k of [
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
      'AWS_PROFILE',
      'AWS_REGION',
      'AWS_DEFAULT_REGION',
    ])
      delete process.env[k];
    Object.assign(process.env, {
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SHARED_CREDENTIALS_FILE: join(root, 'none'),
      AWS_CONFIG_FILE: join(root, 'none'),
    });
    const api = new ApiClient(resolveConnection({ apiUrl: 'http://127.0.0.1:48000' }, {}), {
      fetch: async () => new Response('{}'),
    });
    await assert.rejects(api.call('listDevices'), (err: Error) => /FLEETMEDIC_LOCAL_DIR/.test(err.message));
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  assert.equal(POINTER_FILE, 'running-elsewhere.json');
});
