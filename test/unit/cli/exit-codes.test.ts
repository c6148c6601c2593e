/**
 * Exit codes scripts can trust. The CLI runs in-process against a tiny real HTTP server that answers with
 * canned responses (no emulator needed): usage 2, unreachable 3, auth 4, other API errors 1.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../../functions/cli/program.js';
import { EXIT } from '../../../functions/cli/errors.js';
import { freePort } from '../../../local/moto.js';

interface Canned {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}
const answers = new Map<string, Canned>();
const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];
let server: Server;
let url: string;
const emptyDir = mkdtempSync(join(tmpdir(), 'fm-cli-'));

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const a = answers.get(`${req.method} ${req.url!.split('?')[0]}`) ?? {
        status: 404,
        body: { error: 'not_found', message: 'no such route in this test' },
      };
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
      res.end(a.body === undefined ? '' : JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

async function cli(args: string[], env: Record<string, string | undefined> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    env: { FLEETMEDIC_LOCAL_DIR: emptyDir, ...env },
    now: () => Date.parse('2025-10-24T10:15:00.000Z'),
    color: false,
    sleep: async () => {},
  });
  return { code, stdout, stderr };
}
const withApi = (args: string[]) => cli(['--api-url', url, '--token', 'tok', ...args]);

test('help and version exit 0; usage errors exit 2 and send nothing', async () => {
  assert.equal((await cli(['--help'])).code, EXIT.ok);
  assert.equal((await cli(['--version'])).code, EXIT.ok);
  const before = seen.length;
  for (const args of [
    ['bogus'],
    ['device'],
    ['device', 'Bad_ID'],
    ['silence', 'pump-1', '--for', 'soon'],
    ['silence', 'pump-1/a/b', '--for', '1h'],
    ['jobs', 'enqueue', 'pump-1', 'restart-service'],
    ['jobs', 'enqueue', 'pump-1', 'reboot-universe'],
    ['jobs', 'enqueue', 'pump-1', 'restart-service', '--service', 'web', '--in-progress-timeout', '5'],
    ['jobs', 'enqueue', 'pump-1', 'restart-service', '--service', 'web', '--in-progress-timeout', '86401'],
    ['jobs', 'enqueue', 'pump-1', 'restart-service', '--service', 'web', '--in-progress-timeout', '2.5'],
    ['jobs', 'enqueue', 'pump-1', 'restart-service', '--service', 'web', '--in-progress-timeout', 'soon'],
    ['jobs', 'not-a-job-id'],
    ['devices', '--limit', 'lots'],
    ['dlq', 'list', '--queue', 'nope'],
    ['register', 'pump-1', '--label', 'novalue'],
    ['target', 'pump-1', '--file', '/does/not/exist.json'],
  ]) {
    const r = await withApi(args);
    assert.equal(r.code, EXIT.usage, `${args.join(' ')} → ${r.code} ${r.stderr}`);
    assert.ok(r.stderr.length > 0, `${args.join(' ')} explains itself`);
  }
  // With --json, usage errors (Commander's own included) are JSON too.
  for (const args of [
    ['bogus'],
    ['device'],
    ['devices', '--limit', 'lots'],
    ['register', 'pump-1', '--label', 'novalue'],
  ]) {
    const r = await withApi(['--json', ...args]);
    assert.equal(r.code, EXIT.usage, `--json ${args.join(' ')} → ${r.code}`);
    const parsed = JSON.parse(r.stderr.trim()) as { error: string; message: string; exitCode: number };
    assert.equal(parsed.exitCode, EXIT.usage);
    assert.ok(parsed.message.length > 0, `--json ${args.join(' ')} explains itself`);
  }
  assert.equal(seen.length, before, 'no request left the machine');
  assert.match((await withApi(['device', 'Bad_ID'])).stderr, /deviceId: lowercase letters, digits and dashes/);
  assert.match(
    (await withApi(['jobs', 'enqueue', 'pump-1', 'restart-service', '--service', 'web', '--in-progress-timeout', '5']))
      .stderr,
    /--in-progress-timeout must be a whole number from 10 to 86400/,
  );
});

test('unreachable API or none configured: exit 3 with a clear message', async () => {
  const closed = await freePort();
  const r = await cli(['--api-url', `http://127.0.0.1:${closed}`, '--token', 't', 'devices']);
  assert.equal(r.code, EXIT.unreachable);
  assert.match(r.stderr, /cannot reach the API at http:\/\/127\.0\.0\.1:\d+: connection refused/);
  const none = await cli(['devices']);
  assert.equal(none.code, EXIT.unreachable);
  assert.match(none.stderr, /no API configured: start the local fleet with `npm start`/);
});

test('401/403 exit 4; 404 and 503 circuit_open exit 1; --json errors are machine-readable', async () => {
  answers.set('GET /v1/devices', {
    status: 401,
    body: { error: 'unauthorized', message: 'Invalid operator token' },
    headers: { 'www-authenticate': 'Bearer' },
  });
  const r401 = await withApi(['devices']);
  assert.equal(r401.code, EXIT.auth);
  assert.match(r401.stderr, /401 unauthorized: Invalid operator token \(check --token/);
  answers.set('GET /v1/devices/pump-1', { status: 403, body: { message: 'Forbidden' } });
  assert.equal((await withApi(['device', 'pump-1'])).code, EXIT.auth);
  answers.set('GET /v1/jobs/job_ABCDEFGHIJKL', {
    status: 404,
    body: { error: 'not_found', message: 'no job job_ABCDEFGHIJKL' },
  });
  const r404 = await withApi(['jobs', 'job_ABCDEFGHIJKL']);
  assert.equal(r404.code, EXIT.apiError);
  assert.match(r404.stderr, /404 not_found: no job job_ABCDEFGHIJKL/);
  answers.set('POST /v1/devices/pump-1/jobs', {
    status: 503,
    body: { error: 'circuit_open', message: 'circuit open for pump-1' },
    headers: { 'retry-after': '17' },
  });
  const r503 = await withApi(['--json', 'jobs', 'enqueue', 'pump-1', 'restart-service', '--service', 'web']);
  assert.equal(r503.code, EXIT.apiError);
  const err = JSON.parse(r503.stderr) as {
    error: string;
    exitCode: number;
    status: number;
    details: { retryAfterSeconds: number };
  };
  assert.equal(err.error, 'circuit_open');
  assert.equal(err.status, 503);
  assert.equal(err.details.retryAfterSeconds, 17);
  assert.equal(r503.stdout, '', 'stdout stays clean for scripts');
  assert.equal(
    seen.filter((s) => s.method === 'POST' && s.url === '/v1/devices/pump-1/jobs').length,
    1,
    'a POST is never retried',
  );
  const body = JSON.parse(seen.at(-1)!.body) as unknown;
  assert.deepEqual(body, { type: 'restart-service', params: { service: 'web' } });
  assert.equal(seen.at(-1)!.headers.authorization, 'Bearer tok');
  assert.match(String(seen.at(-1)!.headers['x-correlation-id']), /^[0-9a-f-]{36}$/);
});

test('a response that breaks the contract is an API error (1), a good one prints (0)', async () => {
  answers.set('GET /v1/health', { status: 200, body: { status: 'fine' } });
  const bad = await withApi(['health']);
  assert.equal(bad.code, EXIT.apiError);
  assert.match(bad.stderr, /does not match the contract/);
  answers.set('GET /v1/health', {
    status: 200,
    body: { status: 'ok', version: '0.1.0', time: '2025-10-24T10:15:00.000Z' },
  });
  const good = await withApi(['--json', 'health']);
  assert.equal(good.code, EXIT.ok);
  assert.equal((JSON.parse(good.stdout) as { status: string }).status, 'ok');
});

test('a 5xx on a GET is retried (idempotent); the final answer decides', async () => {
  answers.set('GET /v1/events/recent', { status: 500, body: { error: 'internal_error', message: 'boom' } });
  const before = seen.length;
  const r = await withApi(['events']);
  assert.equal(r.code, EXIT.apiError);
  assert.equal(seen.length - before, 3, 'first try + 2 retries');
});

test('without a token the CLI signs with SigV4; without AWS credentials that is an auth error (4)', async () => {
  const saved = { ...process.env };
  try {
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_REGION: 'eu-west-1',
    });
    delete process.env.AWS_PROFILE;
    answers.set('GET /v1/devices', { status: 200, body: { devices: [] } });
    const ok = await cli(['--api-url', url, 'devices']);
    assert.equal(ok.code, EXIT.ok, ok.stderr);
    const auth = String(seen.at(-1)!.headers.authorization);
    assert.match(
      auth,
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/,
    );
    assert.ok(seen.at(-1)!.headers['x-amz-date']);

    for (const k of [
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
      'AWS_PROFILE',
      'AWS_WEB_IDENTITY_TOKEN_FILE',
      'AWS_CONTAINER_CREDENTIALS_FULL_URI',
      'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
    ])
      delete process.env[k];
    Object.assign(process.env, {
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SHARED_CREDENTIALS_FILE: join(emptyDir, 'none'),
      AWS_CONFIG_FILE: join(emptyDir, 'none'),
    });
    const none = await cli(['--api-url', url, 'devices']);
    assert.equal(none.code, EXIT.auth);
    assert.match(none.stderr, /cannot sign the request with AWS credentials/);
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
});

test('jobs enqueue --in-progress-timeout sends the job its own timeout; the job view shows it', async () => {
  const at = '2025-10-24T10:15:00.000Z';
  const job = {
    jobId: 'job_ABCDEFGHIJKL',
    deviceId: 'pump-1',
    type: 'restart-service',
    params: { service: 'web' },
    status: 'QUEUED',
    version: 1,
    attempt: 1,
    createdAt: at,
    updatedAt: at,
    correlationId: 'c-1',
    inProgressTimeoutSeconds: 20,
    history: [{ attempt: 1, status: 'QUEUED', at, by: 'operator' }],
  };
  answers.set('POST /v1/devices/pump-1/jobs', { status: 202, body: job });
  const r = await withApi([
    'jobs',
    'enqueue',
    'pump-1',
    'restart-service',
    '--service',
    'web',
    '--in-progress-timeout',
    '20',
  ]);
  assert.equal(r.code, EXIT.ok, r.stderr);
  assert.deepEqual(JSON.parse(seen.at(-1)!.body), {
    type: 'restart-service',
    params: { service: 'web' },
    inProgressTimeoutSeconds: 20,
  });
  answers.set('GET /v1/jobs/job_ABCDEFGHIJKL', { status: 200, body: job });
  const shown = await withApi(['jobs', 'job_ABCDEFGHIJKL']);
  assert.equal(shown.code, EXIT.ok, shown.stderr);
  assert.match(shown.stdout, /timeout\s+20 s in progress \(set at enqueue\)/);
});

test('jobs enqueue --wait shows how long ago the job finished, measured after the wait', async () => {
  const t0 = Date.parse('2025-10-24T10:15:00.000Z');
  let reads = 0;
  const at = new Date(t0).toISOString();
  const done = new Date(t0 + 18_000).toISOString();
  const base = {
    jobId: 'job_WAITWAITWAIT',
    deviceId: 'pump-1',
    type: 'restart-service',
    params: { service: 'web' },
    version: 1,
    attempt: 1,
    createdAt: at,
    correlationId: 'c-1',
    history: [{ attempt: 1, status: 'QUEUED', at, by: 'operator' }],
  };
  answers.set('POST /v1/devices/pump-1/jobs', { status: 202, body: { ...base, status: 'QUEUED', updatedAt: at } });
  answers.set('GET /v1/jobs/job_WAITWAITWAIT', {
    status: 200,
    body: { ...base, status: 'SUCCEEDED', version: 3, updatedAt: done },
  });
  let stdout = '';
  const code = await runCli(
    [
      '--api-url',
      url,
      '--token',
      'tok',
      'jobs',
      'enqueue',
      'pump-1',
      'restart-service',
      '--service',
      'web',
      '--wait',
      '60',
    ],
    {
      stdout: (s) => (stdout += s),
      stderr: () => {},
      env: { FLEETMEDIC_LOCAL_DIR: emptyDir },
      // The command starts at t0; every later reading is 20 s on (the job finished at t0 + 18 s).
      now: () => (reads++ === 0 ? t0 : t0 + 20_000),
      color: false,
      sleep: async () => {},
    },
  );
  assert.equal(code, EXIT.ok);
  const updated = stdout.split('\n').find((l) => l.startsWith('updated')) ?? '';
  assert.doesNotMatch(updated, /\(in /, `a finished job's time is in the past: ${updated}`);
});
