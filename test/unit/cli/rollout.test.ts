/**
 * `fleetmedic rollout ...` in-process against a tiny real HTTP server with canned answers (shapes checked by the
 * CLI's contract validation): the request `create` builds from its options, usage errors that send nothing,
 * `status --watch` redrawing until the rollout finished (and NDJSON with --json), list, and a 409 on an
 * out-of-order action exiting 1 with the API's message.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EXIT } from '../../../functions/cli/errors.js';
import { runCli } from '../../../functions/cli/program.js';

const ID = 'ro_0000000000AAAAAAAAAAAAAA';
const dir = mkdtempSync(join(tmpdir(), 'fm-rollout-cli-'));
const targetFile = join(dir, 'target.json');
writeFileSync(targetFile, JSON.stringify({ services: { web: { image: 'lab/web:2' } }, rollbackWindowSeconds: 10 }));

/** Canned answers per "METHOD path"; a list is served in order (the last one repeats). */
const answers = new Map<string, { status: number; body: unknown }[]>();
const seen: { method: string; url: string; body: string }[] = [];
let server: Server;
let url: string;

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, body });
      const list = answers.get(`${req.method} ${req.url!.split('?')[0]}`);
      const a = list && list.length > 1 ? list.shift()! : list?.[0];
      res.writeHead(a?.status ?? 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(a?.body ?? { error: 'not_found', message: 'no such route in this test' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const NOW = Date.parse('2026-01-10T10:05:00.000Z');
let sleeps = 0;
async function cli(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['--api-url', url, '--token', 'tok', ...args], {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    env: { FLEETMEDIC_LOCAL_DIR: dir },
    now: () => NOW,
    color: false,
    sleep: async () => {
      sleeps++;
    },
  });
  return { code, stdout, stderr };
}

const counts = (c: Partial<Record<'pending' | 'inProgress' | 'succeeded' | 'failed' | 'skipped', number>>) => ({
  pending: 0,
  inProgress: 0,
  succeeded: 0,
  failed: 0,
  skipped: 0,
  ...c,
});

function rollout(
  over: Record<string, unknown> = {},
  canary = counts({ inProgress: 1 }),
  wave = counts({ pending: 2 }),
) {
  const totals = Object.fromEntries(
    Object.keys(canary).map((k) => [k, canary[k as keyof typeof canary] + wave[k as keyof typeof wave]]),
  );
  return {
    rolloutId: ID,
    status: 'active',
    createdAt: '2026-01-10T10:00:00.000Z',
    createdBy: 'operator:operator',
    description: 'web 2 to the north pumps',
    selector: { site: 'north', role: 'pump' },
    deviceCount: 3,
    targetVersion: 'v-abc',
    canary: { count: 1 },
    waves: { perMinute: 2, factor: 1 },
    abortCriteria: { failurePercent: 50, failureCount: 2, minFinished: 2 },
    onAbort: 'rollback',
    deviceTimeoutSeconds: 610,
    stages: [
      {
        name: 'canary',
        devices: 1,
        counts: canary,
        startedAt: '2026-01-10T10:01:00.000Z',
        criteria: {
          failurePercent: { value: 0, limit: 50, judged: false },
          failureCount: { value: canary.failed, limit: 2 },
        },
      },
      {
        name: 'wave 1',
        devices: 2,
        counts: wave,
        criteria: { failurePercent: { value: 0, limit: 50, judged: false }, failureCount: { value: 0, limit: 2 } },
      },
    ],
    totals,
    criteria: {
      failurePercent: { value: 0, limit: 50, judged: false },
      failureCount: { value: canary.failed + wave.failed, limit: 2 },
    },
    ...over,
  };
}

test('create sends the selector, canary, waves and abort criteria it was given', async () => {
  answers.set('POST /v1/rollouts', [{ status: 201, body: rollout() }]);
  const r = await cli([
    'rollout',
    'create',
    '--selector',
    'site=north, role=pump',
    '--target-file',
    targetFile,
    '--canary',
    '10%',
    '--rate',
    '20',
    '--increase',
    '2',
    '--abort-failure-percent',
    '25',
    '--abort-failure-count',
    '5',
    '--min-finished',
    '4',
    '--on-abort',
    'leave',
    '--device-timeout',
    '30m',
  ]);
  assert.equal(r.code, EXIT.ok, r.stderr);
  assert.deepEqual(JSON.parse(seen.at(-1)!.body), {
    selector: { site: 'north', role: 'pump' },
    target: { services: { web: { image: 'lab/web:2' } }, rollbackWindowSeconds: 10 },
    canary: { percent: 10 },
    waves: { perMinute: 20, factor: 2 },
    abortCriteria: { failurePercent: 25, failureCount: 5, minFinished: 4 },
    onAbort: 'leave',
    deviceTimeoutSeconds: 1800,
  });
  assert.match(r.stdout, new RegExp(`Rollout ${ID} created`));
  assert.match(r.stdout, /canary\s+1\s+0\s+0\s+1\s+0\s+0/);

  const json = await cli([
    '--json',
    'rollout',
    'create',
    '--devices',
    'a1,b2',
    '--target-file',
    targetFile,
    '--rate',
    '5',
    '--abort-failure-count',
    '1',
  ]);
  assert.equal(json.code, EXIT.ok, json.stderr);
  assert.equal(JSON.parse(json.stdout).rolloutId, ID);
  assert.deepEqual(JSON.parse(seen.at(-1)!.body).deviceIds, ['a1', 'b2']);
  assert.deepEqual(JSON.parse(seen.at(-1)!.body).canary, { count: 1 });
});

test('create --job sends the job instead of a target, and onAbort only when given', async () => {
  answers.set('POST /v1/rollouts', [
    {
      status: 201,
      body: rollout({
        targetVersion: 'job:restart-service',
        job: { type: 'restart-service', params: { service: 'web' }, inProgressTimeoutSeconds: 120 },
        onAbort: 'leave',
      }),
    },
  ]);
  const r = await cli([
    'rollout',
    'create',
    '--selector',
    'site=north',
    '--job',
    'restart-service',
    '--job-params',
    '{"service":"web"}',
    '--job-timeout',
    '2m',
    '--rate',
    '5',
    '--abort-failure-count',
    '1',
  ]);
  assert.equal(r.code, EXIT.ok, r.stderr);
  assert.deepEqual(JSON.parse(seen.at(-1)!.body), {
    selector: { site: 'north' },
    job: { type: 'restart-service', params: { service: 'web' }, inProgressTimeoutSeconds: 120 },
    canary: { count: 1 },
    waves: { perMinute: 5 },
    abortCriteria: { failureCount: 1 },
  });
  assert.match(r.stdout, /job restart-service \{"service":"web"\} · 3 devices/);

  const bare = await cli([
    'rollout',
    'create',
    '--devices',
    'a1',
    '--job',
    'retry-now',
    '--on-abort',
    'leave',
    '--rate',
    '5',
    '--abort-failure-count',
    '1',
  ]);
  assert.equal(bare.code, EXIT.ok, bare.stderr);
  const sent = JSON.parse(seen.at(-1)!.body);
  assert.deepEqual(sent.job, { type: 'retry-now', params: {} });
  assert.equal(sent.onAbort, 'leave');
  assert.equal(sent.target, undefined);
});

test('bad options are usage errors (exit 2) and send nothing', async () => {
  const before = seen.length;
  const base = ['rollout', 'create', '--target-file', targetFile, '--rate', '5', '--abort-failure-percent', '20'];
  const job = ['rollout', 'create', '--devices', 'a1', '--rate', '5', '--abort-failure-count', '1'];
  for (const args of [
    [...base],
    [...base, '--selector', 'site=north', '--devices', 'a1'],
    [...base, '--selector', 'site'],
    [...base, '--selector', 'site=a,site=b'],
    [...base, '--devices', 'a1', '--canary', 'some'],
    [...base, '--devices', 'a1', '--device-timeout', 'soon'],
    ['rollout', 'create', '--devices', 'a1', '--target-file', targetFile, '--rate', '5'],
    [
      'rollout',
      'create',
      '--devices',
      'a1',
      '--target-file',
      join(dir, 'missing.json'),
      '--rate',
      '5',
      '--abort-failure-count',
      '1',
    ],
    [...base, '--devices', 'a1', '--increase', '0.5'],
    [...base, '--devices', 'a1', '--abort-failure-percent', '120'],
    [...base, '--devices', 'a1', '--job', 'retry-now'],
    [...base, '--devices', 'a1', '--job-params', '{}'],
    [...job, '--job', 'reboot'],
    [...job, '--job', 'set-target-state'],
    [...job, '--job', 'restart-service', '--job-params', '{service: web}'],
    [...job, '--job', 'restart-service', '--job-params', '["web"]'],
    [...job, '--job', 'restart-service', '--job-timeout', 'soon'],
    [...job],
    ['rollout', 'status', 'not-a-rollout'],
    ['rollout', 'pause'],
  ]) {
    const r = await cli(args);
    assert.equal(r.code, EXIT.usage, `${args.join(' ')} → ${r.code} ${r.stdout}`);
    assert.ok(r.stderr.length > 0, `${args.join(' ')} explains itself`);
  }
  assert.equal(seen.length, before, 'no request left the machine');
});

test('status --watch redraws until the rollout finished; --json prints one document per poll', async () => {
  const done = rollout(
    { status: 'completed', finishedAt: '2026-01-10T10:04:00.000Z' },
    counts({ succeeded: 1 }),
    counts({ succeeded: 1, skipped: 1 }),
  );
  const frames = () => [
    { status: 200, body: rollout() },
    { status: 200, body: rollout({}, counts({ succeeded: 1 }), counts({ inProgress: 2 })) },
    { status: 200, body: done },
  ];
  answers.set(`GET /v1/rollouts/${ID}`, frames());
  sleeps = 0;
  const r = await cli(['rollout', 'status', ID, '--watch', '--interval', '1']);
  assert.equal(r.code, EXIT.ok, r.stderr);
  assert.equal(sleeps, 2, 'slept between the three polls, not after the last');
  const drawn = r.stdout.split(`Rollout ${ID}`).slice(1);
  assert.equal(drawn.length, 3);
  assert.match(drawn[0]!, /\[\.{30}\] 0%/);
  assert.match(drawn[1]!, /\[#{10}\.{20}\] 33%/);
  assert.match(drawn[2]!, /\[#{30}\] 100% {2}2 succeeded, 0 failed, 0 in progress, 0 pending, 1 skipped/);
  assert.match(
    drawn[0]!,
    /Abort criteria, whole rollout: failures 0% of finished \(limit 50%, judged after 2 finished\) · failed 0 \(limit 2\)/,
  );
  assert.match(drawn[0]!, /Ctrl-C stops watching/);
  assert.doesNotMatch(drawn[2]!, /Ctrl-C/);

  answers.set(`GET /v1/rollouts/${ID}`, frames());
  const json = await cli(['--json', 'rollout', 'status', ID, '--watch']);
  assert.equal(json.code, EXIT.ok, json.stderr);
  const docs = json.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    docs.map((d) => [d.status, d.totals.succeeded]),
    [
      ['active', 0],
      ['active', 1],
      ['completed', 2],
    ],
  );
});

test('an aborted rollout shows the criterion and the failures by cause', async () => {
  answers.set(`GET /v1/rollouts/${ID}`, [
    {
      status: 200,
      body: rollout(
        {
          status: 'aborted',
          finishedAt: '2026-01-10T10:04:00.000Z',
          abort: {
            by: 'criterion',
            at: '2026-01-10T10:03:00.000Z',
            criterion: 'failurePercent',
            scope: 'canary',
            detail: '1 of 1 finished devices failed (100%), limit 50% after 2',
            failures: [
              { cause: 'rolled-back', count: 1, sample: [{ deviceId: 'p1', detail: 'the agent rolled back' }] },
            ],
          },
        },
        counts({ failed: 1 }),
      ),
    },
  ]);
  const r = await cli(['rollout', 'status', ID]);
  assert.equal(r.code, EXIT.ok, r.stderr);
  assert.match(r.stdout, /Aborted 2m00s ago by criterion failurePercent in canary: 1 of 1 finished devices failed/);
  assert.match(r.stdout, /rolled-back: 1 device\(s\), e\.g\. p1 \(the agent rolled back\)/);
});

test('list; an out-of-order action exits 1 with the API’s reason', async () => {
  answers.set('GET /v1/rollouts', [{ status: 200, body: { rollouts: [rollout()], nextToken: 'x#1' } }]);
  const list = await cli(['rollout', 'list', '--limit', '5']);
  assert.equal(list.code, EXIT.ok, list.stderr);
  assert.match(list.stdout, new RegExp(`${ID}\\s+active\\s+3\\s+0/0/1/2/0`));
  assert.match(list.stdout, /More: --next-token x#1/);
  assert.match(seen.at(-1)!.url, /limit=5/);

  answers.set(`POST /v1/rollouts/${ID}/resume`, [
    {
      status: 409,
      body: {
        error: 'invalid_transition',
        message: 'a rollout that is active cannot be resumed',
        details: { status: 'active', action: 'resume' },
      },
    },
  ]);
  const r = await cli(['rollout', 'resume', ID]);
  assert.equal(r.code, EXIT.apiError);
  assert.match(r.stderr, /409 invalid_transition: a rollout that is active cannot be resumed/);

  answers.set(`POST /v1/rollouts/${ID}/abort`, [{ status: 200, body: rollout({ status: 'rolling-back' }) }]);
  const abort = await cli(['rollout', 'abort', ID, '--reason', 'bad image']);
  assert.equal(abort.code, EXIT.ok, abort.stderr);
  assert.deepEqual(JSON.parse(seen.at(-1)!.body), { reason: 'bad image' });
  assert.match(abort.stdout, /is now rolling-back/);
});
