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
import { apiUrlFromOutputs } from '../../../cdk/scripts/acceptance.js';
import { PROJECT_ROOT } from '../../../cdk/lib/synth.js';

let emulator: Emulator;
let fleet: Fleet;
const dir = mkdtempSync(join(tmpdir(), 'fm-acceptance-'));

before(async () => {
  emulator = await ensureEmulator();
  fleet = await startFleet({ prefix: `acc${randomBytes(3).toString('hex')}`, operatorToken: newOperatorToken(), slackPrint: null, scheduleSeconds: 3600, pollWaitSeconds: 1, log: () => {} });
});
after(async () => {
  await fleet?.close();
  await emulator?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function acceptance(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'cdk/scripts/acceptance.ts', ...args], { cwd: PROJECT_ROOT, timeout: 120_000, env: process.env }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('passes against a working control plane: health, register, report, enqueue, poll, complete, read back', async () => {
  const r = await acceptance(['--api-url', fleet.apiUrl, '--token', fleet.operatorToken, '--expect-version', '0.1.0']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  for (const step of ['GET /v1/health', 'register a test device', 'silence the test device', 'device reports', 'enqueue a job', 'device polls the job', 'device completes the job', 'operator reads the job back']) {
    assert.match(r.stdout, new RegExp(`ok   ${step.replace(/[/()]/g, '\\$&')}`));
  }
  assert.match(r.stdout, /acceptance passed: 9 steps/);
});

test('fails (exit 1, naming the step) when the API is not the expected version', async () => {
  const r = await acceptance(['--api-url', fleet.apiUrl, '--token', fleet.operatorToken, '--expect-version', 'deadbeef']);
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
  writeFileSync(file, JSON.stringify({ 'Fleetmedic-prod': { ApiUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/', OperatorPolicyArn: 'arn:x' } }));
  assert.equal(apiUrlFromOutputs(file), 'https://abc.execute-api.eu-west-1.amazonaws.com/');
  assert.equal(apiUrlFromOutputs(file, 'Fleetmedic-prod'), 'https://abc.execute-api.eu-west-1.amazonaws.com/');
  assert.throws(() => apiUrlFromOutputs(file, 'Fleetmedic-dev'), /no ApiUrl output for stack Fleetmedic-dev/);
});
