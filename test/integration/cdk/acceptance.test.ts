/**
 * The post-deploy acceptance script (cdk/scripts/acceptance.ts), run as the deploy workflow runs it (a child
 * process, judged by its exit code), against the local fleet: the real handlers behind the local API gateway,
 * the dispatcher polling SQS, all on moto. In AWS the operator calls are SigV4-signed instead of bearer.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ensureEmulator, type Emulator } from '../../support/moto.js';
import { startFleet, type Fleet } from '../../../local/fleet.js';
import { newOperatorToken } from '../../../local/secrets.js';
import { AcceptanceError, apiUrlFromOutputs, runAcceptance } from '../../../cdk/scripts/acceptance.js';
import { PROJECT_ROOT } from '../../../cdk/lib/synth.js';

let emulator: Emulator;
let fleet: Fleet;
const dir = mkdtempSync(join(tmpdir(), 'fm-acceptance-'));

before(async () => {
  emulator = await ensureEmulator();
  fleet = await startFleet({
    prefix: `acc${randomBytes(3).toString('hex')}`,
    operatorToken: newOperatorToken(),
    slackPrint: null,
    scheduleSeconds: 3600,
    pollWaitSeconds: 1,
    log: () => {},
  });
});
after(async () => {
  await fleet?.close();
  await emulator?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function acceptance(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'cdk/scripts/acceptance.ts', ...args],
      { cwd: PROJECT_ROOT, timeout: 120_000, env: process.env },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

test('passes against a working control plane: health, register, report, enqueue, poll, complete, read back', async () => {
  const r = await acceptance(['--api-url', fleet.apiUrl, '--token', fleet.operatorToken, '--expect-version', '0.1.0']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  for (const step of [
    'GET /v1/health',
    'register a test device',
    'silence the test device',
    'device reports',
    'enqueue a job',
    'device polls the job',
    'device completes the job',
    'operator reads the job back',
    'decommission the test device',
  ]) {
    assert.match(r.stdout, new RegExp(`ok   ${step.replace(/[/()]/g, '\\$&')}`));
  }
  assert.match(r.stdout, /acceptance passed: 10 steps/);
  // The probe device is gone: not in the listing, not counted anywhere.
  const probe = /register a test device \(operator\) \(\d+ ms\): (acceptance-[a-z0-9-]+)/.exec(r.stdout)?.[1];
  assert.ok(probe, r.stdout);
  assert.equal((await operatorCall('GET', `/v1/devices/${probe}`)).status, 404);
});

test('decommissions its probe device when a step fails too', async () => {
  // The device's job update fails (a 500 from the transport) after the probe device was registered.
  const faulty: typeof fetch = async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    if ((init?.method ?? 'GET') === 'PUT' && /\/jobs\/job_/.test(url))
      return new Response(JSON.stringify({ error: 'internal_error', message: 'injected' }), {
        status: 500,
        headers: { 'content-type': 'application/json' },
      });
    return fetch(input, init);
  };
  const lines: string[] = [];
  await assert.rejects(
    runAcceptance({
      apiUrl: fleet.apiUrl,
      operatorToken: fleet.operatorToken,
      fetch: faulty,
      log: (l) => lines.push(l),
    }),
    (err: unknown) => err instanceof AcceptanceError && err.step === 'device starts the job (IN_PROGRESS)',
  );
  const probe = /register a test device \(operator\) \(\d+ ms\): (acceptance-[a-z0-9-]+)/.exec(lines.join('\n'))?.[1];
  assert.ok(probe, lines.join('\n'));
  assert.ok(
    lines.some((l) => l.startsWith('ok   decommission the test device')),
    lines.join('\n'),
  );
  assert.equal((await operatorCall('GET', `/v1/devices/${probe}`)).status, 404);
  const list = await operatorCall('GET', '/v1/devices?limit=500');
  assert.ok(!(list.json as { devices: { deviceId: string }[] }).devices.some((d) => d.deviceId === probe));
});

async function operatorCall(method: string, path: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${fleet.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${fleet.operatorToken}` },
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

test('fails (exit 1, naming the step) when the API is not the expected version', async () => {
  const r = await acceptance([
    '--api-url',
    fleet.apiUrl,
    '--token',
    fleet.operatorToken,
    '--expect-version',
    'deadbeef',
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /acceptance failed at "GET \/v1\/health": .*expected deadbeef/);
});

test('fails when operator calls are refused (wrong token)', async () => {
  const r = await acceptance(['--api-url', fleet.apiUrl, '--token', 'not-the-token']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /acceptance failed at "register a test device/);
});

test('fails when nothing answers', async () => {
  const r = await acceptance(['--api-url', 'http://127.0.0.1:9', '--token', 'x']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /acceptance failed at "GET \/v1\/health": .*cannot reach/);
});

test('reads the API URL from `cdk deploy --outputs-file` output', () => {
  const file = join(dir, 'outputs.json');
  writeFileSync(
    file,
    JSON.stringify({
      'Fleetmedic-prod': { ApiUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/', OperatorPolicyArn: 'arn:x' },
    }),
  );
  assert.equal(apiUrlFromOutputs(file), 'https://abc.execute-api.eu-west-1.amazonaws.com/');
  assert.equal(apiUrlFromOutputs(file, 'Fleetmedic-prod'), 'https://abc.execute-api.eu-west-1.amazonaws.com/');
  assert.throws(() => apiUrlFromOutputs(file, 'Fleetmedic-dev'), /no ApiUrl output for stack Fleetmedic-dev/);
});
