/**
 * `fleetmedic circuits reset --all [--yes]`, `jobs retry`, `jobs dead-letter`, in-process against a tiny real
 * HTTP server with canned answers: without --yes the reset lists and refuses (exit 2) after a dry run only; with
 * --yes it confirms; the job commands call their routes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EXIT } from '../../../functions/cli/errors.js';
import { runCli } from '../../../functions/cli/program.js';

const seen: { method: string; path: string; body: string }[] = [];
let server: Server;
let url: string;
const emptyDir = mkdtempSync(join(tmpdir(), 'fm-cli-ops-'));
const found = [{ deviceId: 'dev-1', state: 'open', consecutiveFailures: 5 }];
const job = {
  jobId: 'job_000000000000000000000001',
  deviceId: 'dev-1',
  type: 'run-health-check',
  params: {},
  status: 'QUEUED',
  version: 3,
  attempt: 2,
  createdAt: '2025-10-24T10:00:00.000Z',
  updatedAt: '2025-10-24T10:10:00.000Z',
  correlationId: 'c-1',
  history: [{ attempt: 1, status: 'QUEUED', at: '2025-10-24T10:00:00.000Z', by: 'operator:x' }],
};

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const path = req.url!.split('?')[0]!;
      seen.push({ method: req.method!, path, body });
      let answer: unknown = { error: 'not_found', message: 'no such route' };
      let status = 404;
      if (path === '/v1/circuits/reset') {
        const b = JSON.parse(body || '{}');
        status = 200;
        answer = b.dryRun
          ? { dryRun: true, found, reset: [], remaining: 0, more: false, correlationId: 'c-2' }
          : { dryRun: false, found, reset: ['dev-1'], remaining: 0, more: false, correlationId: 'c-3' };
      } else if (path.endsWith('/retry') || path.endsWith('/dead-letter')) {
        status = 200;
        answer = job;
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

async function cli(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['--api-url', url, '--token', 'tok', ...args], {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    env: { FLEETMEDIC_LOCAL_DIR: emptyDir },
    now: () => Date.parse('2025-10-24T10:15:00.000Z'),
    color: false,
    sleep: async () => {},
  });
  return { code, stdout, stderr };
}

test('circuits reset --all without --yes lists what it would reset and refuses, sending only a dry run', async () => {
  seen.length = 0;
  const r = await cli(['circuits', 'reset', '--all']);
  assert.equal(r.code, EXIT.usage, r.stderr);
  assert.match(r.stdout, /dev-1\s+open\s+5\s+would reset/);
  assert.match(r.stderr, /refusing to reset 1 circuit\(s\) without --yes/);
  assert.deepEqual(
    seen.map((s) => [s.method, s.path, JSON.parse(s.body)]),
    [['POST', '/v1/circuits/reset', { dryRun: true }]],
  );
});

test('circuits reset --all --yes confirms; --json prints the answer; without --all it is a usage error', async () => {
  seen.length = 0;
  const r = await cli(['--json', 'circuits', 'reset', '--all', '--yes']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).reset, ['dev-1']);
  assert.deepEqual(JSON.parse(seen[0]!.body), { confirm: true });
  const noAll = await cli(['circuits', 'reset', '--yes']);
  assert.equal(noAll.code, EXIT.usage);
});

test('jobs retry and jobs dead-letter call their routes; dead-letter needs --reason', async () => {
  seen.length = 0;
  const retry = await cli(['jobs', 'retry', job.jobId]);
  assert.equal(retry.code, 0, retry.stderr);
  assert.match(retry.stdout, /job_000000000000000000000001/);
  const dl = await cli(['--json', 'jobs', 'dead-letter', job.jobId, '--reason', 'replaced']);
  assert.equal(dl.code, 0, dl.stderr);
  assert.equal(JSON.parse(dl.stdout).jobId, job.jobId);
  assert.deepEqual(
    seen.map((s) => [s.method, s.path]),
    [
      ['POST', `/v1/jobs/${job.jobId}/retry`],
      ['POST', `/v1/jobs/${job.jobId}/dead-letter`],
    ],
  );
  assert.deepEqual(JSON.parse(seen[1]!.body), { reason: 'replaced' });
  const noReason = await cli(['jobs', 'dead-letter', job.jobId]);
  assert.equal(noReason.code, EXIT.usage);
});
