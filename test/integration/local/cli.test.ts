/**
 * The operator CLI against a real local fleet: the real handlers behind the local API gateway, the job
 * dispatcher polling SQS, all on moto. A "device" here speaks the contract over HTTP with its own token.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ensureEmulator, type Emulator } from '../../support/moto.js';
import { startFleet, type Fleet } from '../../../local/fleet.js';
import { newOperatorToken } from '../../../local/secrets.js';
import { demoTarget } from '../../../local/demo-target.js';
import { runCli } from '../../../functions/cli/program.js';
import { EXIT } from '../../../functions/cli/errors.js';
import { writeLocalConfig } from '../../../functions/cli/local-config.js';
import type { Job } from '../../../functions/contract/jobs.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'fm-cli-it-'));
let emulator: Emulator;
let fleet: Fleet;

before(async () => {
  emulator = await ensureEmulator();
  fleet = await startFleet({
    prefix: `cli${randomBytes(3).toString('hex')}`,
    operatorToken: newOperatorToken(),
    slackPrint: null,
    scheduleSeconds: 3600,
    pollWaitSeconds: 1,
    log: () => {},
  });
});
after(async () => {
  await fleet.close();
  await emulator.stop();
});

async function cli(args: string[], env: Record<string, string | undefined> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    env: { FLEETMEDIC_LOCAL_DIR: dir, ...env },
    now: Date.now,
    color: false,
  });
  return { code, stdout, stderr };
}
const op = (args: string[]) => cli(['--api-url', fleet.apiUrl, '--token', fleet.operatorToken, ...args]);

async function device(token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${fleet.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as any) : undefined };
}

test('register → report with an error → devices/device show the badge and what was tried', async () => {
  const tokenFile = join(dir, 'pump-1.token');
  const reg = await op([
    'register',
    'pump-1',
    '--name',
    'Pump one',
    '--label',
    'site=north',
    '--token-file',
    tokenFile,
  ]);
  assert.equal(reg.code, EXIT.ok, reg.stderr);
  assert.match(reg.stdout, /Registered pump-1\./);
  assert.doesNotMatch(reg.stdout, /pump-1\.[A-Za-z0-9_-]{20,}/, 'the token goes to the file, not the screen');
  assert.match(reg.stdout, /fleetmedic-agent run --api-url http:\/\/127\.0\.0\.1:\d+ --device-id pump-1 --token-file/);
  const token = readFileSync(tokenFile, 'utf8').trim();
  assert.equal((await op(['register', 'pump-1'])).code, EXIT.apiError, 'registering twice is a 409');

  const nextRetry = new Date(Date.now() + 40_000).toISOString();
  const report = {
    deviceId: 'pump-1',
    seq: 1,
    kind: 'full',
    agentVersion: '0.1.0',
    uptimeSeconds: 120,
    sentAt: new Date().toISOString(),
    services: [
      { name: 'web', image: 'busybox:1', status: 'running', restartCount: 0 },
      {
        name: 'worker',
        image: 'busybox:missing',
        status: 'error',
        error: {
          type: 'ImagePullBackOff',
          message: 'manifest unknown',
          timestamp: new Date().toISOString(),
          retryCount: 3,
          nextRetry,
          permanent: true,
          attempted: ['pull', 'pull', 'pull'],
        },
      },
    ],
  };
  const ack = await device(token, 'POST', '/v1/devices/pump-1/reports', report);
  assert.equal(ack.status, 200, JSON.stringify(ack.json));

  const list = await op(['devices']);
  assert.equal(list.code, EXIT.ok, list.stderr);
  assert.match(
    list.stdout,
    /pump-1\s+\w+\s+closed\s+(just now|\d+s ago)\s+worker: ImagePullBackOff\(3\) retry in (3\d|40)s/,
  );
  const json = await op(['--json', 'devices']);
  const parsed = JSON.parse(json.stdout) as { devices: { deviceId: string; errors: { type: string }[] }[] };
  assert.equal(parsed.devices.find((d) => d.deviceId === 'pump-1')?.errors[0]?.type, 'ImagePullBackOff');

  const detail = await op(['device', 'pump-1']);
  assert.equal(detail.code, EXIT.ok, detail.stderr);
  assert.match(detail.stdout, /^pump-1 \(Pump one\)/);
  assert.match(detail.stdout, /labels\s+site=north/);
  assert.match(detail.stdout, /worker: ImagePullBackOff — manifest unknown/);
  assert.match(detail.stdout, /tried: pull → pull → pull/);
  assert.equal((await op(['device', 'nope-404'])).code, EXIT.apiError);
});

test('target, jobs enqueue --wait while a device executes it, jobs <id>, events', async () => {
  const tokenFile = join(dir, 'pump-2.token');
  assert.equal((await op(['register', 'pump-2', '--token-file', tokenFile])).code, EXIT.ok);
  const token = readFileSync(tokenFile, 'utf8').trim();
  const targetFile = join(dir, 'target.json');
  writeFileSync(targetFile, JSON.stringify(demoTarget()));
  const t = await op(['target', 'pump-2', '--file', targetFile]);
  assert.equal(t.code, EXIT.ok, t.stderr);
  assert.match(t.stdout, /Target of pump-2 is now version \S+: 2 service\(s\) \(web, worker\)/);

  // Read it back, edit the printed document, write it back: If-Match with the version read, so a change made
  // meanwhile by someone else is refused (412), not overwritten.
  const shown = await op(['target', 'pump-2']);
  assert.equal(shown.code, EXIT.ok, shown.stderr);
  assert.match(shown.stdout, /Target of pump-2: version \S+/);
  assert.match(shown.stdout, /web\s+\S+/);
  const read = await op(['--json', 'target', 'pump-2']);
  const doc = JSON.parse(read.stdout) as { version: string; target: { services: Record<string, { image: string }> } };
  const edited = join(dir, 'target-edited.json');
  doc.target.services.web!.image = 'lab/web:edited';
  writeFileSync(edited, JSON.stringify(doc));
  const meanwhile = structuredClone(doc.target);
  meanwhile.services.web!.image = 'lab/web:meanwhile';
  writeFileSync(join(dir, 'target-meanwhile.json'), JSON.stringify(meanwhile));
  assert.equal(
    (await op(['target', 'pump-2', '--file', join(dir, 'target-meanwhile.json')])).code,
    EXIT.ok,
    'a plain target file replaces unconditionally',
  );
  const refused = await op(['target', 'pump-2', '--file', edited]);
  assert.equal(refused.code, EXIT.apiError, refused.stdout);
  assert.match(refused.stderr, /not the one this change is based on/);
  const again = await op(['target', 'pump-2', '--file', join(dir, 'target-meanwhile.json'), '--if-match', doc.version]);
  assert.equal(again.code, EXIT.apiError, 'an explicit --if-match of an old version is refused too');
  assert.equal((await op(['target', 'pump-2', '--file', targetFile])).code, EXIT.ok);

  // The device side: poll pending jobs, run them, report SUCCEEDED with expectedVersion.
  let stop = false;
  const executed: string[] = [];
  const deviceLoop = (async () => {
    while (!stop) {
      const pending = await device(token, 'GET', '/v1/devices/pump-2/jobs/pending');
      for (const job of (pending.json?.jobs ?? []) as Job[]) {
        if (executed.includes(job.jobId)) continue;
        const inProgress = await device(token, 'PUT', `/v1/devices/pump-2/jobs/${job.jobId}`, {
          status: 'IN_PROGRESS',
          expectedVersion: job.version,
        });
        // Health checks of `worker` fail (its image never pulled); everything else succeeds.
        const outcome =
          job.type === 'run-health-check'
            ? { status: 'FAILED', statusDetails: { error: 'worker is not running' } }
            : { status: 'SUCCEEDED', statusDetails: { restarted: true } };
        const done = await device(token, 'PUT', `/v1/devices/pump-2/jobs/${job.jobId}`, {
          ...outcome,
          expectedVersion: inProgress.json.version,
        });
        assert.equal(done.status, 200, JSON.stringify(done.json));
        executed.push(job.jobId);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  try {
    const r = await op([
      'jobs',
      'enqueue',
      'pump-2',
      'restart-service',
      '--service',
      'web',
      '--reason',
      'test',
      '--wait',
      '30',
    ]);
    assert.equal(r.code, EXIT.ok, r.stderr + r.stdout);
    assert.match(r.stdout, /^job_\w+\s+SUCCEEDED/);
    const jobId = r.stdout.split(/\s/)[0]!;
    assert.deepEqual(executed, [jobId], 'executed exactly once');
    const shown = await op(['--json', 'jobs', jobId]);
    const job = JSON.parse(shown.stdout) as Job;
    assert.equal(job.status, 'SUCCEEDED');
    assert.deepEqual(job.params, { service: 'web', reason: 'test' });
    assert.ok(
      job.history.some((h) => h.status === 'SUCCEEDED' && h.by.includes('pump-2')),
      JSON.stringify(job.history),
    );
    const human = await op(['jobs', 'show', jobId]);
    assert.match(human.stdout, /History/);

    // A failing command: --wait exits 1 and says how it ended; the failure is an event.
    const failed = await op(['jobs', 'enqueue', 'pump-2', 'run-health-check', '--service', 'worker', '--wait', '30']);
    assert.equal(failed.code, EXIT.apiError, failed.stderr);
    assert.match(failed.stderr, /job job_\w+ ended FAILED/);
    assert.match(failed.stdout, /worker is not running/);
  } finally {
    stop = true;
    await deviceLoop;
  }
  const events = await op(['events', '--device', 'pump-2']);
  assert.equal(events.code, EXIT.ok, events.stderr);
  assert.match(events.stdout, /command\.failed\s+pump-2\s+-\s+jobId=job_/);
  const typed = await op(['--json', 'events', '--type', 'command.failed', '--device', 'pump-2']);
  assert.ok(
    (JSON.parse(typed.stdout) as { events: { type: string }[] }).events.every((e) => e.type === 'command.failed'),
  );
});

test('silence/unsilence, circuit reset, dlq list and redrive --dry-run', async () => {
  assert.equal((await op(['register', 'pump-3'])).code, EXIT.ok);
  const s = await op(['silence', 'pump-3/web', '--for', '2h', '--reason', 'firmware update']);
  assert.equal(s.code, EXIT.ok, s.stderr);
  assert.match(s.stdout, /Silenced: maintenance on pump-3\/web until .* \(in (1h59m|2h00m)\) — firmware update/);
  assert.match((await op(['device', 'pump-3'])).stdout, /Markers\n\s+maintenance on pump-3\/web/);
  const u = await op(['unsilence', 'pump-3/web']);
  assert.equal(u.code, EXIT.ok, u.stderr);
  assert.doesNotMatch((await op(['device', 'pump-3'])).stdout, /Markers/);
  assert.equal(
    (await op(['silence', 'pump-3', '--for', '10s'])).code,
    EXIT.usage,
    'below the 1-minute minimum: refused before sending',
  );
  assert.equal((await op(['silence', 'ghost-device', '--for', '1h'])).code, EXIT.apiError, 'unknown device: 404');

  const c = await op(['circuit', 'reset', 'pump-3']);
  assert.equal(c.code, EXIT.ok, c.stderr);
  assert.match(c.stdout, /Circuit of pump-3 is now closed/);

  const d = await op(['dlq', 'list']);
  assert.equal(d.code, EXIT.ok, d.stderr);
  assert.match(d.stdout, /Dead-letter queue 'jobs' is empty\./);
  const rd = await op(['--json', 'dlq', 'redrive', '--dry-run', '--filter', 'nothing-matches']);
  assert.equal(rd.code, EXIT.ok, rd.stderr);
  assert.deepEqual(JSON.parse(rd.stdout), { dryRun: true, matched: 0, redriven: 0, messages: [] });
});

test('bad token → 4; local.json is picked up without flags; the launcher exits with the code', async () => {
  const bad = await cli(['--api-url', fleet.apiUrl, '--token', 'fmo_wrong', 'devices']);
  assert.equal(bad.code, EXIT.auth);
  assert.match(bad.stderr, /401 unauthorized/);

  const localDir = mkdtempSync(join(tmpdir(), 'fm-local-'));
  writeLocalConfig(
    {
      apiUrl: fleet.apiUrl,
      operatorToken: fleet.operatorToken,
      prefix: 'x',
      endpoint: emulator.endpoint,
      pid: process.pid,
    },
    localDir,
  );
  const viaLocal = await cli(['--json', 'devices'], { FLEETMEDIC_LOCAL_DIR: localDir });
  assert.equal(viaLocal.code, EXIT.ok, viaLocal.stderr);
  writeLocalConfig(
    {
      apiUrl: fleet.apiUrl,
      operatorToken: fleet.operatorToken,
      prefix: 'x',
      endpoint: emulator.endpoint,
      stoppedAt: '2025-01-01T00:00:00Z',
    },
    localDir,
  );
  const stopped = await cli(['devices'], { FLEETMEDIC_LOCAL_DIR: localDir });
  assert.equal(stopped.code, EXIT.unreachable);
  assert.match(
    stopped.stderr,
    /the local fleet is not running \(stopped 2025-01-01T00:00:00Z\)\. Start it with `npm start`/,
  );

  const run = promisify(execFile);
  const { stdout } = await run(process.execPath, [join(ROOT, 'bin', 'fleetmedic.js'), '--json', 'devices'], {
    env: { ...process.env, FLEETMEDIC_API_URL: fleet.apiUrl, FLEETMEDIC_OPERATOR_TOKEN: fleet.operatorToken },
  });
  assert.ok((JSON.parse(stdout) as { devices: unknown[] }).devices.length >= 3);
  await assert.rejects(
    run(process.execPath, [join(ROOT, 'bin', 'fleetmedic.js'), 'device', 'Nope!'], {
      env: { ...process.env, FLEETMEDIC_API_URL: fleet.apiUrl },
    }),
    (e: { code: number }) => e.code === EXIT.usage,
  );
});
