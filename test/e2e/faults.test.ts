/**
 * Scenario 5 (faults), in one run of the whole system with a real agent:
 *   1. the emulator restarts while jobs are in flight (its data survives, as with a persistent emulator);
 *   2. the agent is killed mid-job (SIGKILL) and started again;
 *   3. the API is unreachable while the device keeps working, until the cloud has seen the device go offline
 *      (its DeviceOffline alert reached Slack), and at least E2E_OUTAGE_SECONDS.
 * Afterwards: every job is terminal or in the DLQ, every report the agent made was delivered (its on-disk
 * outbox is empty, nothing dropped), and every alert reached Slack once (the outage's DeviceOffline, then
 * its resolution — no duplicates).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HTTPD_CMD } from '../support/engine-lab.js';
import { startApiServer, type ApiServer } from '../../local/http-server.js';
import { handlersFromDirectory } from '../../local/handlers.js';
import { labContainers, startE2e, waitFor, withLogsOnFailure, type AgentProcess, type E2e } from './support/e2e.js';

/** The shortest outage; it lasts on until the cloud has seen the device offline (about 20 s at the e2e clocks). */
const OUTAGE_SECONDS = Number(process.env.E2E_OUTAGE_SECONDS ?? 15);
const TERMINAL = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'CANCELED'];

let e2e: E2e;
let agent: AgentProcess;
let replacementApi: ApiServer | undefined;
const jobIds: string[] = [];

before(async () => {
  e2e = await startE2e('faults');
  await e2e.register('site-1');
  await e2e.setTarget('site-1', {
    services: {
      web: {
        image: e2e.image('1'),
        command: HTTPD_CMD,
        healthCheck: {
          kind: 'http',
          port: 8080,
          intervalSeconds: 1,
          timeoutSeconds: 1,
          failureThreshold: 2,
          startupDelaySeconds: 1,
        },
      },
      // Ignores SIGTERM: its restart waits out the stop timeout, a window to kill the agent mid-job.
      slowstop: { image: e2e.image('1'), command: ['sh', '-c', 'trap "" TERM; while :; do sleep 1; done'] },
    },
    rollbackWindowSeconds: 3600,
  });
  agent = await e2e.startAgent('site-1');
  await waitFor(
    'both services running',
    async () =>
      (await e2e.cliJson('device', 'site-1')).services.filter((s: any) => s.status === 'running').length === 2,
    90_000,
    500,
  );
});
after(async () => {
  await replacementApi?.close();
  await e2e?.close();
});

async function job(id: string) {
  return e2e.cliJson('jobs', id);
}
async function enqueue(service: string) {
  const j = await e2e.cliJson('jobs', 'enqueue', 'site-1', 'restart-service', '--service', service);
  jobIds.push(j.jobId);
  return j.jobId as string;
}

test(
  'emulator restart, agent killed mid-job, API down until the device looks offline: nothing lost, nothing twice',
  { timeout: 580_000 },
  () =>
    withLogsOnFailure(e2e, async () => {
      // 1. The emulator restarts while three jobs are on their way.
      for (let i = 0; i < 3; i++) await enqueue('web');
      await e2e.restartEmulator();
      let last: any[] = [];
      await waitFor(
        'the three jobs terminal after the emulator restart',
        async () => {
          last = await Promise.all(jobIds.map(job));
          return last.every((j) => TERMINAL.includes(j.status)) ? last : undefined;
        },
        120_000,
        1000,
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}: ${JSON.stringify(last.map((j) => ({ id: j.jobId, status: j.status, history: j.history })))}`,
        );
      });
      for (const id of jobIds) {
        const j = await job(id);
        assert.equal(j.status, 'SUCCEEDED', JSON.stringify(j.history));
        assert.equal(j.history.filter((h: any) => h.status === 'IN_PROGRESS').length, 1, `${id} ran once`);
      }

      // 2. The agent is killed while it restarts `slowstop`, then comes back.
      const midJob = await enqueue('slowstop');
      // Killed once its write-ahead journal holds the claim, i.e. while the restart is under way (slowstop's
      // ignored SIGTERM keeps it there for seconds). Killing on the IN_PROGRESS status alone raced with that
      // fsync: a kill before it is the other, legitimate case (not executed, so taken again: IN_PROGRESS twice).
      const journalFile = join(e2e.dir, 'agent-site-1', 'job-journal.json');
      const claimed = () => {
        try {
          const doc = JSON.parse(readFileSync(journalFile, 'utf8')) as {
            data: { entries: { jobId: string; state: string }[] };
          };
          return doc.data.entries.some((e) => e.jobId === midJob && e.state === 'claimed');
        } catch {
          return false; // not written yet, or being replaced
        }
      };
      await waitFor('the agent claimed the job in its journal', claimed, 60_000, 20);
      await agent.kill();
      agent = await agent.restart();
      const finished = await waitFor(
        'the interrupted job terminal',
        async () => {
          const j = await job(midJob);
          return TERMINAL.includes(j.status) ? j : undefined;
        },
        180_000,
        1000,
      );
      // At most once per attempt: the interrupted attempt is reported FAILED (not re-run), its retry runs once.
      const ranAttempt1 = finished.history.filter((h: any) => h.attempt === 1 && h.status === 'IN_PROGRESS').length;
      assert.equal(ranAttempt1, 1, JSON.stringify(finished.history));
      assert.equal(finished.status, 'SUCCEEDED', JSON.stringify(finished.history));
      const owned = await labContainers(e2e.docker, agent.agentId);
      assert.equal(owned.length, 2, 'no duplicate or orphaned containers after the agent restart');

      // 3. The API goes away; the device keeps working (and has something to report).
      const slackBefore = e2e.fleet.slack!.messages.length;
      const port = Number(new URL(e2e.fleet.apiUrl).port);
      const webBefore = (await e2e.cliJson('device', 'site-1')).services.find((s: any) => s.name === 'web');
      await e2e.fleet.api.close();
      const outageStarted = Date.now();
      const [webContainer] = (await labContainers(e2e.docker, agent.agentId)).filter(
        (c: any) => c.Labels?.['io.fleetmedic.service'] === 'web',
      ) as any[];
      await e2e.docker.getContainer(webContainer.Id).kill();
      // Long enough for the device to look offline (heartbeats stop reaching the cloud): waited for, not timed, so
      // a slow machine lengthens the outage instead of failing the test. The Slack forwarder does not need the API.
      await e2e.fleet.slack!.waitFor(
        (m) =>
          e2e.fleet.slack!.messages.indexOf(m) >= slackBefore && !/RESOLVED/.test(m.text) && /Offline/i.test(m.text),
        180_000,
      );
      await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_SECONDS * 1000 - (Date.now() - outageStarted))));
      replacementApi = await startApiServer({ resolve: handlersFromDirectory(), port });

      const outbox = join(e2e.dir, 'agent-site-1', 'outbox');
      await waitFor(
        'the agent outbox drained into the API',
        () => readdirSync(outbox).every((f) => f === 'meta.json' || f.endsWith('.tmp')),
        90_000,
        500,
      );
      const meta = JSON.parse(readFileSync(join(outbox, 'meta.json'), 'utf8'));
      assert.equal(meta.dropped, 0, 'no report dropped from the bounded buffer');
      const caughtUp = await waitFor(
        'the cloud knows about the restart made while it was away',
        async () => {
          const web = (await e2e.cliJson('device', 'site-1')).services.find((s: any) => s.name === 'web');
          return web.restartCount > webBefore.restartCount && web.status === 'running' ? web : undefined;
        },
        60_000,
        500,
      );
      assert.ok(caughtUp);

      // The outage made the device look offline: one alert, one resolution, no duplicates.
      await e2e.fleet.slack!.waitFor(
        (m) => /RESOLVED/.test(m.text) && /Offline/i.test(m.text) && /site-1/.test(m.text),
        90_000,
      );
      await new Promise((r) => setTimeout(r, 5000)); // late duplicates would show up here
      const alerts = e2e.fleet.slack!.messages.slice(slackBefore);
      const keys = new Map<string, number>();
      for (const m of e2e.fleet.slack!.messages) {
        const key = /key (\S+)/.exec(m.text)?.[1] ?? m.text.split('\n')[0]!;
        const kind = /RESOLVED/.test(m.text) ? 'resolved' : 'raised';
        keys.set(`${kind}:${key}`, (keys.get(`${kind}:${key}`) ?? 0) + 1);
      }
      for (const [k, n] of keys) assert.equal(n, 1, `alert ${k} sent ${n} times`);
      assert.ok(
        alerts.some((m) => !/RESOLVED/.test(m.text) && /Offline/i.test(m.text)),
        `an offline alert was sent: ${alerts.map((m) => m.text.split('\n')[0]).join(' | ')}`,
      );

      // Finally: every job is terminal or dead-lettered.
      const dlq = await e2e.cliJson('dlq', 'list');
      const dead = new Set(dlq.messages.map((m: any) => m.jobId));
      for (const id of jobIds) {
        const j = await job(id);
        assert.ok(TERMINAL.includes(j.status) || dead.has(id), `${id} is ${j.status} and not in the DLQ`);
      }
    }),
);
