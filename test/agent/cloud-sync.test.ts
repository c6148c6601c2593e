/**
 * The agent's cloud link on the sync protocol (one POST /sync per heartbeat), over real HTTP against the
 * contract-validating local API (test/support/fake-api-server.ts): reports, jobs and target through /sync alone; the
 * fallback to the separate routes against an API of the previous release; back-pressure (429, or 503 with
 * Retry-After) that keeps the link online and the reports in order. Timings are scaled down (1 s sync interval).
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
import { silentLogger } from '../../agent/src/log.js';
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

async function rig(api: FakeApi) {
  const dir = await mkdtemp(join(tmpdir(), 'fm-sync-'));
  dirs.push(dir);
  const services = [service('web'), service('db')];
  const targets: TargetSnapshot[] = [];
  const effects: string[] = [];
  const handlers: JobHandlers = {
    'restart-service': async (p) => void effects.push(`restart:${p.service}`),
    'pull-image': async (p) => void effects.push(`pull:${p.image}`),
    'set-target-state': async () => void effects.push('target'),
    'run-health-check': async () => ({ web: true }),
    'retry-now': async (p) => void effects.push(`retry:${p.service ?? '*'}`),
  };
  const link = new CloudLink({
    api: new CloudApi({
      baseUrl: api.url,
      deviceId: api.deviceId,
      token: api.token,
      policy: { timeoutMs: 1000, retryMax: 1, retryBackoffMs: 50, maxBackoffMs: 200 },
    }),
    buffer: new ReportBuffer({ dir: join(dir, 'outbox'), maxReports: 500 }),
    journal: new JobJournal(dir),
    rolloutStore: new JsonStore({ dir, name: 'rollout', schema: RolloutDoc, fallback: emptyRollout }),
    clock: systemClock,
    log: silentLogger(),
    source: {
      reports: () => services.map((s) => ({ ...s })),
      targetHealthy: () => true,
      targetChanged: (s) => void targets.push(s),
    },
    handlers,
    deviceId: api.deviceId,
    agentVersion: '0.2.0-test',
    schedule: { minIntervalMs: 150, heartbeatMs: 1000, fullEveryMs: 60_000 },
    link: { probeBaseMs: 100, probeMaxMs: 400, reconnectJitterMs: 200 },
    targetPollMs: 250,
    jobPollMs: 250,
  });
  await link.load();
  links.push(link);
  return {
    link,
    targets,
    effects,
    bump() {
      services[0] = { ...services[0]!, restartCount: services[0]!.restartCount + 1 };
      link.notify();
    },
  };
}

const fakeApi = async (o?: Parameters<typeof startFakeApi>[0]) => {
  const a = await startFakeApi(o);
  apis.push(a);
  return a;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const appliedSeqs = (api: FakeApi) => api.stored.map((s) => s.seq);
function assertContiguous(seqs: number[]) {
  for (let i = 1; i < seqs.length; i++)
    assert.equal(seqs[i], seqs[i - 1]! + 1, `contiguous sequence: ${seqs.join(',')}`);
}

describe('cloud link on the sync protocol', () => {
  test('reports, target and jobs all travel through /sync; heartbeats at the interval the server asks for', async () => {
    const api = await fakeApi({ sync: true });
    api.setTarget({ services: { web: { image: 'reg/app:2' } } });
    const r = await rig(api);
    r.link.start();
    r.link.markReady();
    await waitFor('a target from the sync answer', () => r.targets.length > 0);
    await waitFor('three syncs', () => api.requests.filter((q) => q.path.endsWith('/sync')).length >= 3);
    const job = api.enqueue('restart-service', { service: 'web' });
    await waitFor('the job ran and succeeded', () => api.jobs.get(job.jobId)?.status === 'SUCCEEDED');
    assert.deepEqual(r.effects, ['restart:web']);
    assert.equal(r.link.protocol, 'sync');
    // Before its first picture of the services the agent has no report to carry and polls target and jobs
    // separately; from the first sync on, /sync (and job updates) is all it sends.
    const firstSync = api.requests.findIndex((q) => q.path.endsWith('/sync'));
    const paths = new Set(
      api.requests
        .slice(firstSync)
        .map((q) => `${q.method} ${q.path.replace(api.deviceId, '{id}').replace(job.jobId, '{job}')}`),
    );
    assert.deepEqual([...paths].sort(), ['POST /v1/devices/{id}/sync', 'PUT /v1/devices/{id}/jobs/{job}']);
    assertContiguous(appliedSeqs(api));
  });

  test('against an API of the previous release (no /sync): falls back to the separate routes', async () => {
    const api = await fakeApi();
    const r = await rig(api);
    r.link.start();
    r.link.markReady();
    await waitFor('reports through POST /reports', () => api.stored.length >= 2);
    assert.equal(r.link.protocol, 'legacy');
    assert.equal(
      api.requests.filter((q) => q.path.endsWith('/sync')).length,
      1,
      'asked once, then used the old routes',
    );
    assert.ok(api.requests.some((q) => q.method === 'POST' && q.path.endsWith('/reports') && q.status === 200));
    assertContiguous(appliedSeqs(api));
  });

  for (const status of [429, 503] as const) {
    test(`${status} with Retry-After: the agent waits the advertised time, stays online, and delivers its reports in order`, async () => {
      const api = await fakeApi({ sync: true });
      const r = await rig(api);
      r.link.start();
      r.link.markReady();
      await waitFor('the first report', () => api.stored.length >= 1);
      api.throttleNext(3, 2, status);
      const throttledFrom = api.requests.length;
      for (let i = 0; i < 4; i++) {
        r.bump();
        await sleep(200);
      }
      await waitFor(
        'the throttling is over and the reports made meanwhile arrived',
        () => api.requests.slice(throttledFrom).some((q) => q.status === 200) && api.stored.length >= 3,
      );
      assert.ok(r.link.state.isOnline, 'back-pressure is not an outage');
      assert.ok(r.link.stats.throttled >= 1);
      assert.equal(r.link.stats.reconnects, 0, 'never went offline, so never reconnected');
      const later = api.requests.slice(throttledFrom);
      const firstThrottled = later.find((q) => q.status === status)!;
      const firstServed = later.find((q) => q.status === 200)!;
      assert.ok(
        firstServed.at - firstThrottled.at >= 2000,
        `waited the Retry-After (${firstServed.at - firstThrottled.at} ms)`,
      );
      assertContiguous(appliedSeqs(api));
    });
  }
  for (const status of [429, 503] as const) {
    test(`previous protocol (no /sync): ${status} with Retry-After on the polls is waited out, not retried early; online, reports in order`, async () => {
      const api = await fakeApi();
      const r = await rig(api);
      r.link.start();
      r.link.markReady();
      await waitFor(
        'the agent on the separate routes, its first report stored',
        () => r.link.protocol === 'legacy' && api.stored.length >= 1,
      );
      // The target and job polls (every 250 ms here) meet the back-pressure.
      api.throttleNext(2, 2, status, 'GET');
      const throttledFrom = api.requests.length;
      for (let i = 0; i < 3; i++) {
        r.bump();
        await sleep(200);
      }
      await waitFor(
        'served again, and the reports made meanwhile stored',
        () => api.requests.slice(throttledFrom).some((q) => q.status === 200) && api.stored.length >= 3,
      );
      const later = api.requests.slice(throttledFrom);
      const firstThrottled = later.find((q) => q.status === status)!;
      // No request at all (no in-place retry of the GET, no report) before the advertised time has passed.
      const next = later[later.indexOf(firstThrottled) + 1]!;
      assert.ok(
        next.at - firstThrottled.at >= 2000,
        `the next request came ${next.at - firstThrottled.at} ms after the ${status}`,
      );
      assert.ok(r.link.state.isOnline, 'back-pressure is not an outage');
      assert.equal(r.link.stats.reconnects, 0, 'never went offline, so never reconnected');
      assert.ok(r.link.stats.throttled >= 1);
      assertContiguous(appliedSeqs(api));
    });
  }
});
