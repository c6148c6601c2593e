/**
 * The agent's cloud link over real HTTP against a real local server that validates with the contract
 * (test/support/fake-api-server.ts): outage buffering and in-order delivery, the buffer bound, restarts with a
 * full outbox, sequence jumps, clock offset, ETag polling, deployment rollback, jobs.
 * Timings are scaled down (reports every 150 ms instead of 10 s); the rules are the same.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CloudApi } from '../../agent/src/cloud/api-client.js';
import { JobJournal } from '../../agent/src/cloud/job-journal.js';
import type { JobHandlers } from '../../agent/src/cloud/job-runner.js';
import { CloudLink } from '../../agent/src/cloud/link.js';
import { ReportBuffer } from '../../agent/src/cloud/report-buffer.js';
import { emptyRollout, RolloutDoc } from '../../agent/src/cloud/rollout.js';
import { systemClock } from '../../agent/src/clock.js';
import { createLogger, silentLogger } from '../../agent/src/log.js';
import { JsonStore } from '../../agent/src/state/json-store.js';
import type { TargetSnapshot } from '../../agent/src/target/provider.js';
import type { ServiceReport } from '../../functions/contract/report.js';
import { startFakeApi, type FakeApi } from '../support/fake-api-server.js';
import { waitFor } from '../support/engine-lab.js';

const dirs: string[] = [];
const apis: FakeApi[] = [];
const links: CloudLink[] = [];
after(async () => {
  for (const l of links) await l.stop();
  for (const a of apis) await a.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const service = (name: string, restartCount = 0): ServiceReport => ({
  name,
  image: 'reg/app:1',
  status: 'running',
  restartCount,
  recentRestarts: 0,
  error: null,
  lastHealthCheck: null,
});

interface Rig {
  link: CloudLink;
  buffer: ReportBuffer;
  services: ServiceReport[];
  healthy: { value: boolean };
  targets: TargetSnapshot[];
  effects: string[];
  bump(): void;
}

async function rig(
  api: FakeApi,
  opts: {
    dir?: string;
    maxReports?: number;
    jitterMs?: number;
    random?: () => number;
    handlers?: Partial<JobHandlers>;
  } = {},
): Promise<Rig & { dir: string }> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'fm-link-')));
  if (!opts.dir) dirs.push(dir);
  const buffer = new ReportBuffer({ dir: join(dir, 'outbox'), maxReports: opts.maxReports ?? 500 });
  const services = [service('web'), service('db')];
  const healthy = { value: true };
  const targets: TargetSnapshot[] = [];
  const effects: string[] = [];
  const handlers: JobHandlers = {
    'restart-service': async (p) => void effects.push(`restart:${p.service}`),
    'pull-image': async (p) => void effects.push(`pull:${p.image}`),
    'set-target-state': async () => void effects.push('target'),
    'run-health-check': async () => ({ web: true }),
    'retry-now': async (p) => void effects.push(`retry:${p.service ?? '*'}`),
    ...opts.handlers,
  };
  const link = new CloudLink({
    api: new CloudApi({
      baseUrl: api.url,
      deviceId: api.deviceId,
      token: api.token,
      policy: { timeoutMs: 400, retryMax: 1, retryBackoffMs: 50, maxBackoffMs: 200 },
    }),
    buffer,
    journal: new JobJournal(dir),
    rolloutStore: new JsonStore({ dir, name: 'rollout', schema: RolloutDoc, fallback: emptyRollout }),
    clock: systemClock,
    log: process.env.B2_DEBUG ? createLogger({ json: false, level: 'debug' }) : silentLogger(),
    source: {
      reports: () => services.map((s) => ({ ...s })),
      targetHealthy: () => healthy.value,
      targetChanged: (s) => void targets.push(s),
    },
    handlers,
    deviceId: api.deviceId,
    agentVersion: '0.1.0-test',
    random: opts.random ?? Math.random,
    schedule: { minIntervalMs: 150, heartbeatMs: 1000, fullEveryMs: 60_000 },
    link: { probeBaseMs: 100, probeMaxMs: 400, reconnectJitterMs: opts.jitterMs ?? 200 },
    targetPollMs: 250,
    jobPollMs: 250,
  });
  await link.load();
  links.push(link);
  const r: Rig & { dir: string } = {
    dir,
    link,
    buffer,
    services,
    healthy,
    targets,
    effects,
    bump() {
      services[0] = { ...services[0]!, restartCount: services[0]!.restartCount + 1 };
      link.notify();
    },
  };
  return r;
}

const fakeApi = async (o?: Parameters<typeof startFakeApi>[0]) => {
  const a = await startFakeApi(o);
  apis.push(a);
  return a;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Seqs strictly increasing by one: nothing lost, nothing reordered. */
function assertContiguous(seqs: number[]) {
  for (let i = 1; i < seqs.length; i++)
    assert.equal(seqs[i], seqs[i - 1]! + 1, `contiguous sequence: ${seqs.join(',')}`);
}

describe('cloud link against a real HTTP API', () => {
  test('API down for a while: reports are buffered on disk and delivered afterwards, in order, none lost', async () => {
    const api = await fakeApi();
    const r = await rig(api);
    r.link.start();
    r.link.markReady();
    await waitFor('the first full report', () => api.stored.some((s) => s.kind === 'full'));

    await api.goDown('refuse');
    const before = api.stored.length;
    for (let i = 0; i < 12; i++) {
      r.bump();
      await sleep(170);
    }
    // Timeouts count as "down" too: accept connections, answer nothing.
    await api.comeBack();
    await api.goDown('blackhole');
    for (let i = 0; i < 4; i++) {
      r.bump();
      await sleep(170);
    }
    await sleep(600); // the last change gets its report (changes within one 150 ms window share a delta)
    const buffered = r.buffer.seqs();
    assert.ok(buffered.length >= 8, `changes were buffered while down (${buffered.length})`);
    assert.equal(api.stored.length, before, 'nothing got through while down');
    await api.comeBack();
    await waitFor(
      'outbox drained',
      () => r.buffer.size === 0 && buffered.every((q) => api.stored.some((s) => s.seq === q)),
      15_000,
    );

    const seqs = api.stored.map((s) => s.seq);
    assertContiguous(seqs);
    const counts = api.stored.flatMap((s) => s.services.filter((x) => x.name === 'web').map((x) => x.restartCount));
    assert.deepEqual(
      counts,
      [...counts].sort((a, b) => a - b),
      'deltas arrive in the order they happened',
    );
    assert.ok(counts.includes(16), 'the last change arrived');
    assert.ok(
      api.stored.every((s) => s.droppedReports === 0),
      'nothing dropped within the bound',
    );
    assert.ok(r.link.stats.reconnects >= 1);
    // After the reconnect a full report follows the buffered ones (the cloud converges even after drops).
    await waitFor(
      'a full report after the reconnect',
      () => api.stored.some((s) => s.kind === 'full' && s.seq > buffered.at(-1)!),
      5000,
    );
    assert.equal(api.reportLog.filter((l) => l.status !== 200).length, 0, 'no report was refused');
  });

  test('the buffer is bounded: the oldest are dropped and counted in droppedReports', async () => {
    const api = await fakeApi();
    const r = await rig(api, { maxReports: 5 });
    r.link.start();
    r.link.markReady();
    await waitFor('first report', () => api.stored.length > 0);
    await api.goDown('error-503');
    for (let i = 0; i < 12; i++) {
      r.bump();
      await sleep(170);
    }
    await waitFor('bound reached', () => r.buffer.size === 5 && r.buffer.dropped >= 3, 10_000);
    await sleep(600); // the last change gets its report
    const dropped = r.buffer.dropped;
    const kept = r.buffer.seqs();
    await api.comeBack();
    await waitFor(
      'outbox drained',
      () => r.buffer.size === 0 && kept.every((s) => api.stored.some((x) => x.seq === s)),
      15_000,
    );
    const firstAfter = api.stored.find((s) => s.seq === kept[0])!;
    assert.equal(firstAfter.droppedReports, dropped, 'the first delivered report tells how many were dropped');
    assert.deepEqual(
      api.stored.filter((s) => kept.includes(s.seq)).map((s) => s.seq),
      kept,
      'the newest ones, in order',
    );
    assert.equal(api.stored.find((s) => s.seq === kept[1])!.droppedReports, 0, 'then the count starts again');
  });

  test('an agent restarted during the outage delivers what it buffered, and its sequence keeps rising', async () => {
    const api = await fakeApi();
    const r1 = await rig(api);
    r1.link.start();
    r1.link.markReady();
    await waitFor('first report', () => api.stored.length > 0);
    await api.goDown('refuse');
    for (let i = 0; i < 5; i++) {
      r1.bump();
      await sleep(170);
    }
    await waitFor('buffered', () => r1.buffer.size >= 5);
    const waiting = r1.buffer.seqs();
    await r1.link.stop();

    const r2 = await rig(api, { dir: r1.dir });
    assert.deepEqual(r2.buffer.seqs(), waiting, 'the outbox survived the restart');
    r2.link.start();
    r2.link.markReady();
    await api.comeBack();
    await waitFor('delivered', () => r2.buffer.size === 0 && api.stored.some((s) => s.seq > waiting.at(-1)!), 15_000);
    assertContiguous(api.stored.map((s) => s.seq));
  });

  test("409 stale_sequence: the agent jumps past the server's lastSeq and sends a full report", async () => {
    const api = await fakeApi({ startSeq: 1000 });
    const r = await rig(api);
    r.link.start();
    r.link.markReady();
    await waitFor('stored after the jump', () => api.stored.length > 0, 10_000);
    assert.ok(api.reportLog.some((l) => l.status === 409 && l.kind === 'stale'));
    assert.equal(api.stored[0]!.seq, 1001);
    assert.equal(r.link.stats.staleJumps, 1);
    r.bump();
    await waitFor('the next one follows', () => api.stored.length > 1);
    assert.equal(api.stored.at(-1)!.seq, api.stored.at(-2)!.seq + 1);
  });

  test('clock offset: measured from ReportAck.serverTime and carried by later reports', async () => {
    const api = await fakeApi();
    api.serverTimeOffsetMs = -90_000; // the server clock is 90 s behind this device
    const r = await rig(api);
    r.link.start();
    r.link.markReady();
    await waitFor('first report', () => api.stored.length > 0);
    r.bump();
    await waitFor('a report with an offset', () => api.stored.some((s) => s.clockOffsetMs !== undefined));
    const offset = api.stored.find((s) => s.clockOffsetMs !== undefined)!.clockOffsetMs!;
    assert.ok(Math.abs(offset - 90_000) < 2000, `device − server ≈ +90 s, got ${offset}`);
  });

  test('target: ETag polling (304 while unchanged); a new version triggers a reconcile at once', async () => {
    const api = await fakeApi();
    const v1 = api.setTarget({ services: { web: { image: 'reg/web:1' } } });
    const r = await rig(api);
    r.link.start();
    await waitFor('v1 adopted', () => r.targets.length === 1);
    assert.equal(r.targets[0]!.version, v1);
    assert.equal(r.link.currentSnapshot()?.version, v1);
    await waitFor(
      'a few conditional polls',
      () => api.requests.filter((q) => q.path.endsWith('/target') && q.status === 304).length >= 3,
    );
    assert.equal(r.targets.length, 1, 'unchanged: no reconcile triggered');
    const t0 = Date.now();
    const v2 = api.setTarget({ services: { web: { image: 'reg/web:2' } } });
    await waitFor('v2 adopted', () => r.targets.some((t) => t.version === v2));
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(r.link.currentSnapshot()?.target.services.web?.image, 'reg/web:2');
  });

  test('deployment rollback: a target not healthy within its window is rolled back to the last successful one', async () => {
    const api = await fakeApi();
    const v1 = api.setTarget({ services: { web: { image: 'reg/web:1' } } });
    const r = await rig(api);
    r.link.start();
    r.link.markReady();
    await waitFor('v1 promoted', () => r.link.rollout.doc.lastSuccessful?.version === v1);

    r.healthy.value = false;
    const v2 = api.setTarget({ services: { web: { image: 'reg/web:broken' } }, rollbackWindowSeconds: 10 });
    await waitFor('v2 on trial', () => r.targets.some((t) => t.version === v2));
    const t0 = Date.now();
    await waitFor('rolled back', () => r.targets.some((t) => t.source === 'rollback'), 20_000);
    assert.ok(Date.now() - t0 >= 9000, 'not before the window ends');
    const back = r.targets.at(-1)!;
    assert.equal(back.version, v1);
    assert.equal(back.target.services.web?.image, 'reg/web:1');
    await waitFor('the cloud is told', () => api.stored.some((s) => s.rolledBackFrom === v2 && s.targetVersion === v1));

    // The cloud still serves v2: it is not re-applied, not even by a fresh process without the ETag.
    await r.link.stop();
    const r2 = await rig(api, { dir: r.dir });
    assert.equal(r2.link.currentSnapshot()?.version, v1, 'the rolled-back target is what a restarted agent serves');
    r2.link.start();
    await waitFor(
      'a fresh poll',
      () => api.requests.filter((q) => q.path.endsWith('/target') && q.status === 200).length >= 3,
    );
    await sleep(600);
    assert.deepEqual(r2.targets, [], 'v2 not re-applied');
    assert.equal(r2.link.rollout.doc.lastSuccessful?.version, v1);
  });

  test('jobs: IN_PROGRESS with expectedVersion, executed once, SUCCEEDED with the new version', async () => {
    const api = await fakeApi();
    const r = await rig(api);
    r.link.start();
    const job = api.enqueue('retry-now', { service: 'web' });
    const bad = api.enqueue('restart-service', { service: 'NOT A NAME' });
    await waitFor(
      'both terminal',
      () => api.jobs.get(job.jobId)!.status === 'SUCCEEDED' && api.jobs.get(bad.jobId)!.status === 'REJECTED',
    );
    assert.deepEqual(r.effects, ['retry:web']);
    assert.deepEqual(
      api.jobUpdates.filter((u) => u.jobId === job.jobId).map((u) => [u.status, u.expectedVersion, u.answer]),
      [
        ['IN_PROGRESS', 1, 200],
        ['SUCCEEDED', 2, 200],
      ],
    );
    await sleep(600);
    assert.deepEqual(r.effects, ['retry:web'], 'not executed again on later polls');
  });

  test('a long job does not silence the device: heartbeats keep reaching the cloud while it runs', async () => {
    const api = await fakeApi();
    let finish!: () => void;
    const r = await rig(api, { handlers: { 'pull-image': () => new Promise<void>((resolve) => (finish = resolve)) } });
    r.link.start();
    r.link.markReady();
    await waitFor('the first report', () => api.stored.length > 0);
    const job = api.enqueue('pull-image', { image: 'reg/big:1' });
    await waitFor('the job taken', () => api.jobs.get(job.jobId)!.status === 'IN_PROGRESS');
    const before = api.stored.length;
    await sleep(3500); // 3.5 heartbeat periods with the pull still running
    assert.ok(api.stored.length >= before + 2, `heartbeats during the job: ${api.stored.length - before}`);
    assert.equal(api.jobs.get(job.jobId)!.status, 'IN_PROGRESS');
    finish();
    await waitFor('the job done', () => api.jobs.get(job.jobId)!.status === 'SUCCEEDED');
    assert.equal(
      api.jobUpdates.filter((u) => u.jobId === job.jobId && u.status === 'IN_PROGRESS').length,
      1,
      'taken once, not again by later polls',
    );
  });

  test('the cloud answering 5xx for a while never stops the link; it catches up afterwards', async () => {
    const api = await fakeApi();
    const r = await rig(api);
    r.link.start();
    r.link.markReady();
    await waitFor('first report', () => api.stored.length > 0);
    await api.goDown('error-503');
    const t0 = Date.now();
    while (Date.now() - t0 < 2500) {
      r.bump();
      await sleep(200);
    }
    const attempts = api.requests.filter((q) => q.status === 503 && q.at >= t0).length;
    assert.ok(attempts < 40, `probes back off instead of hammering (${attempts} requests in 2.5 s)`);
    await api.comeBack();
    await waitFor(
      'caught up',
      () =>
        r.buffer.size === 0 &&
        api.stored.some((s) => s.services.some((x) => x.restartCount === r.services[0]!.restartCount)),
      10_000,
    );
    assertContiguous(api.stored.map((s) => s.seq));
  });

  test('after a reconnect the agent waits a random pause before sending (fleet stampede guard)', async () => {
    const api = await fakeApi();
    const r = await rig(api, { jitterMs: 2000, random: () => 0.5 });
    r.link.start();
    r.link.markReady();
    await waitFor('first report', () => api.stored.length > 0);
    await api.goDown('refuse');
    r.bump();
    await waitFor('buffered', () => r.buffer.size > 0);
    // Taken before the API listens again: a probe that connects at once is then counted as the first one back
    // (taken after, a fast probe fell before it and the report itself was taken for the probe). Refused
    // connections are not recorded, so nothing older than the outage's end is counted.
    const back = Date.now();
    await api.comeBack();
    await waitFor('delivered', () => r.buffer.size === 0, 30_000);
    // The reconnecting probe is the first request back (a /sync attempt the older API refuses, or a GET).
    const probe = api.requests.find((q) => q.at >= back)!;
    const firstReport = api.requests.find((q) => q.method === 'POST' && q.path.endsWith('/reports') && q.at >= back)!;
    assert.ok(
      firstReport.at - probe.at >= 900,
      `reports wait ~1 s (0.5 of 2 s) after the reconnecting probe: ${firstReport.at - probe.at} ms`,
    );
  });
});
