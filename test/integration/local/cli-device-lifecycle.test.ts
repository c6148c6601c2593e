/**
 * `fleetmedic device rotate-token` and `fleetmedic device remove` against a real local fleet (real handlers behind
 * the local API gateway, on moto); a "device" speaks the contract over HTTP with its token.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EXIT } from '../../../functions/cli/errors.js';
import { runCli } from '../../../functions/cli/program.js';
import { startFleet, type Fleet } from '../../../local/fleet.js';
import { newOperatorToken } from '../../../local/secrets.js';
import { ensureEmulator, type Emulator } from '../../support/moto.js';

const dir = mkdtempSync(join(tmpdir(), 'fm-cli-lifecycle-'));
let emulator: Emulator;
let fleet: Fleet;

before(async () => {
  emulator = await ensureEmulator();
  // The credentials cache off: this checks what the table says, immediately (the cache has its own tests).
  fleet = await startFleet({
    prefix: `cld${randomBytes(3).toString('hex')}`,
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
});

async function op(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['--api-url', fleet.apiUrl, '--token', fleet.operatorToken, ...args], {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    env: { FLEETMEDIC_LOCAL_DIR: dir },
    now: Date.now,
    color: false,
  });
  return { code, stdout, stderr };
}
const poll = async (deviceId: string, token: string) =>
  (
    await fetch(`${fleet.apiUrl}/v1/devices/${deviceId}/jobs/pending`, {
      headers: { authorization: `Bearer ${token}` },
    })
  ).status;

test('rotate-token writes the new token to the file once; the old one works for the overlap, then remove', async () => {
  const tokenFile = join(dir, 'kiosk-7.token');
  assert.equal((await op(['register', 'kiosk-7', '--token-file', tokenFile])).code, EXIT.ok);
  const first = readFileSync(tokenFile, 'utf8').trim();

  const rotated = await op(['device', 'rotate-token', 'kiosk-7', '--overlap', '3600', '--token-file', tokenFile]);
  assert.equal(rotated.code, EXIT.ok, rotated.stderr);
  const second = readFileSync(tokenFile, 'utf8').trim();
  assert.notEqual(second, first);
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
  assert.doesNotMatch(rotated.stdout, /kiosk-7\.[A-Za-z0-9_-]{43}/, 'the token goes to the file, not the screen');
  assert.match(rotated.stdout, /previous token keeps working until/);
  assert.equal(await poll('kiosk-7', first), 200);
  assert.equal(await poll('kiosk-7', second), 200);

  // Printed when no file is given; --overlap 0 revokes the old one at once.
  const now = await op(['device', 'rotate-token', 'kiosk-7', '--overlap', '0']);
  assert.equal(now.code, EXIT.ok, now.stderr);
  const third = /^\s+(kiosk-7\.[A-Za-z0-9_-]{43})$/m.exec(now.stdout)?.[1];
  assert.ok(third, now.stdout);
  assert.equal(await poll('kiosk-7', third), 200);
  assert.equal(await poll('kiosk-7', second), 401);
  assert.equal((await op(['device', 'rotate-token', 'kiosk-7', '--overlap', '-5'])).code, EXIT.usage);

  // `device <id>` still shows the device (the default subcommand).
  const shown = await op(['device', 'kiosk-7']);
  assert.equal(shown.code, EXIT.ok, shown.stderr);
  assert.match(shown.stdout, /kiosk-7/);

  const removed = await op(['device', 'remove', 'kiosk-7']);
  assert.equal(removed.code, EXIT.ok, removed.stderr);
  assert.match(removed.stdout, /Decommissioned kiosk-7 at .*0 open job\(s\) cancelled/s);
  assert.equal(await poll('kiosk-7', third), 401);
  assert.equal((await op(['device', 'kiosk-7'])).code, EXIT.apiError, 'gone: 404');
  const json = await op(['--json', 'device', 'remove', 'kiosk-7']);
  assert.equal(json.code, EXIT.ok, 'idempotent');
  assert.equal(JSON.parse(json.stdout).canceledJobs, 0);
  assert.equal((await op(['device', 'remove', 'nobody-here'])).code, EXIT.apiError);
});
