/**
 * One Ctrl-C in a terminal sends SIGINT to the whole foreground process group (npm, its shell, tsx and node),
 * so the local fleet receives it more than once within milliseconds. The whole `npm start` is run here as a
 * terminal runs it: in its own process group, which then gets SIGINT twice in a row. The state must be saved.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const stateDir = mkdtempSync(join(tmpdir(), 'fleetmedic-ctrl-c-'));
after(() => rmSync(stateDir, { recursive: true, force: true }));

test('Ctrl-C reaching npm start twice (the whole process group) still saves state.json', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Its own emulator, as `npm start` on a laptop: only then does it save its state on the way out.
  delete env.AWS_ENDPOINT_URL;
  delete env.FLEETMEDIC_SLACK_WEBHOOK_URL;
  const child = spawn('npm', ['start', '--', '--state-dir', stateDir, '--port', '0', '--fresh'], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  // Every process of the group holds the pipes: they close when the last one has exited.
  const allExited = new Promise<void>((resolve) => child.stdout.once('close', () => resolve()));
  const groupAlive = () => {
    try {
      process.kill(-child.pid!, 0);
      return true;
    } catch {
      return false;
    }
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (/Fleetmedic is running locally/.test(output)) return resolve();
        if (child.exitCode !== null) return reject(new Error(`npm start exited early (${child.exitCode}):\n${output}`));
        setTimeout(check, 200);
      };
      check();
    });
    const local = JSON.parse(readFileSync(join(stateDir, 'local.json'), 'utf8')) as {
      apiUrl: string;
      operatorToken: string;
    };
    // Something to save: one registered device.
    const res = await fetch(`${local.apiUrl}/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${local.operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: 'ctrl-c-1' }),
    });
    assert.equal(res.status, 201, await res.text());

    // One press as the terminal delivers it: the group gets SIGINT, and npm/tsx pass it on once more.
    process.kill(-child.pid!, 'SIGINT');
    process.kill(-child.pid!, 'SIGINT');
    await allExited;

    assert.doesNotMatch(output, /Forced exit/, output);
    assert.match(output, /Saved \d+ items/, output);
    const dumpFile = join(stateDir, 'state.json');
    assert.ok(existsSync(dumpFile), `state.json written:\n${output}`);
    assert.match(readFileSync(dumpFile, 'utf8'), /ctrl-c-1/, 'the registered device is in the saved state');
  } finally {
    if (groupAlive()) process.kill(-child.pid!, 'SIGKILL');
  }
});
