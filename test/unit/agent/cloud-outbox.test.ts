/**
 * The on-disk report buffer and the job journal (real files in a temp dir; no network).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { CloudApi, JobUpdateResult } from '../../../agent/src/cloud/api-client.js';
import { JobJournal } from '../../../agent/src/cloud/job-journal.js';
import { JobRunner, type JobHandlers } from '../../../agent/src/cloud/job-runner.js';
import { fitToLimit, ReportBuffer } from '../../../agent/src/cloud/report-buffer.js';
import type { Job, JobExecutionUpdate } from '../../../functions/contract/jobs.js';
import { DeviceReport, MAX_REPORT_BYTES } from '../../../functions/contract/report.js';

const dirs: string[] = [];
const tmp = async () => {
  const d = await mkdtemp(join(tmpdir(), 'fm-b2-'));
  dirs.push(d);
  return d;
};
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const report = (i: number) => ({
  deviceId: 'dev-1',
  kind: 'delta' as const,
  agentVersion: '0.1.0',
  uptimeSeconds: i,
  sentAt: new Date(Date.UTC(2030, 0, 1, 0, 0, i)).toISOString(),
  services: [],
  removedServices: [],
  droppedReports: 0,
});

describe('report buffer', () => {
  test('assigns increasing sequence numbers that survive a restart', async () => {
    const dir = await tmp();
    const b = new ReportBuffer({ dir });
    await b.load();
    const seqs = [];
    for (let i = 0; i < 3; i++) seqs.push((await b.append(report(i))).seq);
    assert.deepEqual(seqs, [1, 2, 3]);
    const again = new ReportBuffer({ dir });
    await again.load();
    assert.deepEqual(again.seqs(), [1, 2, 3]);
    assert.equal((await again.append(report(3))).seq, 4);
    // Even if meta.json is lost, the newest report file keeps the sequence moving forward.
    await rm(join(dir, 'meta.json'));
    const third = new ReportBuffer({ dir });
    await third.load();
    assert.equal(third.nextSeq, 5);
    // ...and once everything is delivered, meta.json alone carries it.
    for (const s of third.seqs()) await third.ack(s, 0);
    const fourth = new ReportBuffer({ dir });
    await fourth.load();
    assert.equal(fourth.size, 0);
    assert.equal(fourth.nextSeq, 5);
  });

  test('bounded: the oldest are dropped and counted; the count rides on the next delivered report', async () => {
    const dir = await tmp();
    const b = new ReportBuffer({ dir, maxReports: 5 });
    await b.load();
    for (let i = 0; i < 12; i++) await b.append(report(i));
    assert.deepEqual(b.seqs(), [8, 9, 10, 11, 12], 'the newest 5 kept, in order');
    assert.equal(b.dropped, 7);
    assert.equal((await readdir(dir)).filter((f) => f.endsWith('.json') && f !== 'meta.json').length, 5);

    const head = await b.peek();
    assert.equal(head?.seq, 8);
    assert.equal(head?.droppedReports, 7);
    assert.equal(DeviceReport.safeParse(head).success, true);
    await b.ack(8, head!.droppedReports);
    assert.equal(b.dropped, 0);
    const next = await b.peek();
    assert.deepEqual([next?.seq, next?.droppedReports], [9, 0]);

    // the drop count survives a restart too
    for (let i = 0; i < 10; i++) await b.append(report(i));
    const again = new ReportBuffer({ dir, maxReports: 5 });
    await again.load();
    assert.equal(again.dropped, b.dropped);
    assert.ok(again.dropped > 0);
  });

  test('a byte bound applies too', async () => {
    const dir = await tmp();
    const b = new ReportBuffer({ dir, maxReports: 1000, maxBytes: 1500 });
    await b.load();
    for (let i = 0; i < 20; i++) await b.append(report(i));
    assert.ok(b.size < 20 && b.size >= 1);
    assert.equal(b.dropped, 20 - b.size);
  });

  test("409 stale_sequence: waiting reports are renumbered, in order, past the server's lastSeq", async () => {
    const dir = await tmp();
    const b = new ReportBuffer({ dir });
    await b.load();
    for (let i = 0; i < 3; i++) await b.append(report(i));
    await b.renumberAfter(1000);
    assert.deepEqual(b.seqs(), [1001, 1002, 1003]);
    assert.deepEqual((await b.peek())?.uptimeSeconds, 0, 'the oldest is still first');
    assert.equal((await b.append(report(9))).seq, 1004);
    const again = new ReportBuffer({ dir });
    await again.load();
    assert.deepEqual(again.seqs(), [1001, 1002, 1003, 1004]);
  });

  test('a corrupt report file is dropped and counted, not delivered', async () => {
    const dir = await tmp();
    const b = new ReportBuffer({ dir });
    await b.load();
    await b.append(report(0));
    await b.append(report(1));
    await writeFile(join(dir, '0000000000000001.json'), '{"truncated');
    const again = new ReportBuffer({ dir });
    await again.load();
    assert.deepEqual(again.seqs(), [2]);
    assert.equal(again.dropped, 1);
  });

  test('an oversized report is shortened to fit the API limit, keeping every service', () => {
    const services = Array.from({ length: 64 }, (_, i) => ({
      name: `svc-${i}`,
      image: 'reg/app:1',
      status: 'error' as const,
      restartCount: 1,
      recentRestarts: 1,
      error: {
        type: 'CrashLoopBackOff' as const,
        message: 'x'.repeat(2000),
        timestamp: '2030-01-01T00:00:00.000Z',
        retryCount: 3,
        nextRetry: null,
        permanent: false,
        quarantined: false,
        attempted: Array(20).fill('y'.repeat(200)),
      },
      lastHealthCheck: null,
    }));
    const big = { ...report(0), kind: 'full' as const, seq: 1, services } as DeviceReport;
    const fitted = fitToLimit(big);
    assert.ok(Buffer.byteLength(JSON.stringify(fitted)) <= MAX_REPORT_BYTES);
    assert.equal(fitted.services.length, 64);
    assert.equal(DeviceReport.safeParse(fitted).success, true);
  });
});

/** A stand-in for the API's job endpoints with IoT-Jobs version semantics (unit level; the real peer is tested in test/agent). */
class FakeJobsApi {
  jobs = new Map<string, Job>();
  updates: Array<{ jobId: string } & JobExecutionUpdate> = [];
  failNextWith: 'network' | null = null;
  add(jobId: string, type: string, params: Record<string, unknown>): Job {
    const job: Job = {
      jobId,
      deviceId: 'dev-1',
      type,
      params,
      status: 'QUEUED',
      version: 1,
      attempt: 1,
      createdAt: '2030-01-01T00:00:00.000Z',
      updatedAt: '2030-01-01T00:00:00.000Z',
      correlationId: 'c-1',
      history: [],
    };
    this.jobs.set(jobId, job);
    return job;
  }
  pending(): Job[] {
    return [...this.jobs.values()]
      .filter((j) => j.status === 'QUEUED' || j.status === 'IN_PROGRESS')
      .map((j) => structuredClone(j));
  }
  async updateJob(jobId: string, u: JobExecutionUpdate): Promise<JobUpdateResult> {
    this.updates.push({ jobId, ...u });
    const j = this.jobs.get(jobId);
    if (!j) return { kind: 'not-found' };
    if (['SUCCEEDED', 'FAILED', 'REJECTED', 'CANCELED', 'TIMED_OUT'].includes(j.status))
      return { kind: 'conflict', error: 'invalid_transition', message: 'final' };
    if (j.version !== u.expectedVersion) return { kind: 'conflict', error: 'version_conflict', message: 'stale' };
    j.status = u.status;
    j.version++;
    return { kind: 'ok', job: structuredClone(j) };
  }
}

const quietLog = { info() {}, warn() {} };

function handlers(effects: string[], opts: { crashOn?: string } = {}): JobHandlers {
  const run = async (what: string) => {
    effects.push(what);
    if (opts.crashOn === what) throw new Error('simulated crash'); // never reached past: see the crash test
  };
  return {
    'restart-service': async (p) => run(`restart:${p.service}`),
    'pull-image': async (p) => run(`pull:${p.image}`),
    'set-target-state': async () => run('target'),
    'run-health-check': async () => ({ healthy: true }),
    'retry-now': async (p) => run(`retry:${p.service ?? '*'}`),
  };
}

describe('job runner + journal: at most once', () => {
  test('IN_PROGRESS with expectedVersion, then SUCCEEDED with the new version; never twice', async () => {
    const dir = await tmp();
    const api = new FakeJobsApi();
    api.add('job_aaaaaaaaaa01', 'restart-service', { service: 'web' });
    const journal = new JobJournal(dir);
    await journal.load();
    const effects: string[] = [];
    const runner = new JobRunner(api as unknown as CloudApi, journal, handlers(effects), quietLog);
    await runner.process(api.pending());
    assert.deepEqual(effects, ['restart:web']);
    assert.deepEqual(
      api.updates.map((u) => [u.status, u.expectedVersion]),
      [
        ['IN_PROGRESS', 1],
        ['SUCCEEDED', 2],
      ],
    );
    assert.equal(journal.get('job_aaaaaaaaaa01', 1)?.state, 'reported');
    // The same job seen again (a lagging pending list) is not executed again.
    await runner.process([{ ...api.jobs.get('job_aaaaaaaaaa01')!, status: 'IN_PROGRESS', version: 2 }]);
    assert.deepEqual(effects, ['restart:web']);
  });

  test('crash after the journal claim: after restart it is reported FAILED (agent restarted mid-job), not re-run', async () => {
    const dir = await tmp();
    const api = new FakeJobsApi();
    api.add('job_aaaaaaaaaa02', 'restart-service', { service: 'web' });
    // Process 1: claims, starts the side effect, and "dies" before finishing (the handler never returns).
    const j1 = new JobJournal(dir);
    await j1.load();
    const effects: string[] = [];
    const dying: JobHandlers = {
      ...handlers(effects),
      'restart-service': async (p) => {
        effects.push(`restart:${p.service}`);
        await new Promise(() => {});
      },
    };
    void new JobRunner(api as unknown as CloudApi, j1, dying, quietLog).process(api.pending());
    for (let i = 0; i < 50 && effects.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(effects, ['restart:web']);
    assert.equal(api.jobs.get('job_aaaaaaaaaa02')!.status, 'IN_PROGRESS');

    // Process 2: a fresh journal from disk, the same pending job.
    const j2 = new JobJournal(dir);
    await j2.load();
    assert.deepEqual(
      j2.interrupted().map((e) => e.jobId),
      ['job_aaaaaaaaaa02'],
    );
    const runner2 = new JobRunner(api as unknown as CloudApi, j2, handlers(effects), quietLog);
    await runner2.process(api.pending());
    assert.deepEqual(effects, ['restart:web'], 'not executed a second time');
    const last = api.updates.at(-1)!;
    assert.equal(last.status, 'FAILED');
    assert.equal(last.statusDetails?.reason, 'agent restarted mid-job');
    assert.equal(api.jobs.get('job_aaaaaaaaaa02')!.status, 'FAILED');
    assert.equal(j2.get('job_aaaaaaaaaa02', 1)?.state, 'reported');
  });

  test('crash after IN_PROGRESS but before the claim: not executed yet, so executed once after restart', async () => {
    const dir = await tmp();
    const api = new FakeJobsApi();
    api.add('job_aaaaaaaaaa03', 'pull-image', { image: 'reg/app:2' });
    await api.updateJob('job_aaaaaaaaaa03', { status: 'IN_PROGRESS', expectedVersion: 1 }); // the dead process got this far
    const journal = new JobJournal(dir);
    await journal.load();
    const effects: string[] = [];
    await new JobRunner(api as unknown as CloudApi, journal, handlers(effects), quietLog).process(api.pending());
    assert.deepEqual(effects, ['pull:reg/app:2']);
    assert.equal(api.jobs.get('job_aaaaaaaaaa03')!.status, 'SUCCEEDED');
  });

  test('crash after finishing, before the final report: the recorded outcome is re-sent, nothing re-run', async () => {
    const dir = await tmp();
    const api = new FakeJobsApi();
    api.add('job_aaaaaaaaaa04', 'retry-now', { service: 'web' });
    const j1 = new JobJournal(dir);
    await j1.load();
    await api.updateJob('job_aaaaaaaaaa04', { status: 'IN_PROGRESS', expectedVersion: 1 });
    await j1.claim('job_aaaaaaaaaa04', 1, 'retry-now');
    await j1.finish('job_aaaaaaaaaa04', 1, { status: 'SUCCEEDED', details: { cleared: 2 } });
    const j2 = new JobJournal(dir);
    await j2.load();
    const effects: string[] = [];
    await new JobRunner(api as unknown as CloudApi, j2, handlers(effects), quietLog).process(api.pending());
    assert.deepEqual(effects, []);
    assert.equal(api.jobs.get('job_aaaaaaaaaa04')!.status, 'SUCCEEDED');
    assert.deepEqual(api.updates.at(-1)?.statusDetails, { cleared: 2 });
  });

  test('a failing handler reports FAILED with the reason; an invalid command is REJECTED untouched', async () => {
    const dir = await tmp();
    const api = new FakeJobsApi();
    api.add('job_aaaaaaaaaa05', 'restart-service', { service: 'web' });
    api.add('job_aaaaaaaaaa06', 'format-disk', {});
    const journal = new JobJournal(dir);
    await journal.load();
    const effects: string[] = [];
    await new JobRunner(
      api as unknown as CloudApi,
      journal,
      handlers(effects, { crashOn: 'restart:web' }),
      quietLog,
    ).process(api.pending());
    assert.equal(api.jobs.get('job_aaaaaaaaaa05')!.status, 'FAILED');
    assert.equal(
      api.updates.find((u) => u.jobId === 'job_aaaaaaaaaa05' && u.status === 'FAILED')?.statusDetails?.message,
      'simulated crash',
    );
    assert.equal(api.jobs.get('job_aaaaaaaaaa06')!.status, 'REJECTED');
    assert.deepEqual(effects, ['restart:web']);
  });

  test('a canceled job (IN_PROGRESS refused) is not executed', async () => {
    const dir = await tmp();
    const api = new FakeJobsApi();
    const job = api.add('job_aaaaaaaaaa07', 'restart-service', { service: 'web' });
    api.jobs.get(job.jobId)!.status = 'CANCELED';
    const journal = new JobJournal(dir);
    await journal.load();
    const effects: string[] = [];
    await new JobRunner(api as unknown as CloudApi, journal, handlers(effects), quietLog).process([job]);
    assert.deepEqual(effects, []);
    assert.equal(journal.get(job.jobId, 1), undefined);
  });

  test('a new attempt of the same job is a new execution decision', async () => {
    const dir = await tmp();
    const journal = new JobJournal(dir);
    await journal.load();
    await journal.claim('job_aaaaaaaaaa08', 1, 'pull-image');
    await assert.rejects(journal.claim('job_aaaaaaaaaa08', 1, 'pull-image'), /already claimed/);
    await journal.claim('job_aaaaaaaaaa08', 2, 'pull-image');
    assert.equal(journal.interrupted().length, 2);
  });
});
