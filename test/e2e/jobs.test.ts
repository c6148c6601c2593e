/**
 * Scenario 4 (jobs), through the whole system with a real agent: an operator restart job reaches the agent,
 * is executed exactly once and ends SUCCEEDED; a poison job (a bad deploy makes every dispatch fail) ends
 * in the jobs DLQ after maxReceiveCount receives, is listed with its reason and redriven, and then completes.
 * (The TIMED_OUT path is in job-timeout.test.ts: its in-progress timeout is 5 real minutes.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HTTPD_CMD } from '../support/engine-lab.js';
import { labContainers, startE2e, waitFor, withLogsOnFailure, type AgentProcess, type E2e } from './support/e2e.js';

let e2e: E2e;
let agent: AgentProcess;
before(async () => {
  e2e = await startE2e('jobs');
  await e2e.register('kiosk-1');
  await e2e.setTarget('kiosk-1', { services: { web: { image: e2e.image('1'), command: HTTPD_CMD } } });
  agent = await e2e.startAgent('kiosk-1');
  await waitFor(
    'web running',
    async () =>
      (await e2e.cliJson('device', 'kiosk-1')).services.find((s: any) => s.name === 'web')?.status === 'running',
    90_000,
    500,
  );
});
after(() => e2e?.close());

async function web() {
  const [c] = (await labContainers(e2e.docker, agent.agentId)) as any[];
  const info = await e2e.docker.getContainer(c.Id ?? c.id).inspect();
  return { id: info.Id, startedAt: info.State.StartedAt as string };
}

test('an operator restart job reaches the agent, runs once, ends SUCCEEDED', () =>
  withLogsOnFailure(e2e, async () => {
    const before = await web();
    const r = await e2e.cli(
      '--json',
      'jobs',
      'enqueue',
      'kiosk-1',
      'restart-service',
      '--service',
      'web',
      '--reason',
      'e2e',
      '--wait',
      '60',
    );
    assert.equal(r.code, 0, r.stderr);
    const job = JSON.parse(r.stdout);
    assert.equal(job.status, 'SUCCEEDED');
    const statuses = job.history.map((h: any) => h.status);
    assert.equal(
      statuses.filter((s: string) => s === 'IN_PROGRESS').length,
      1,
      `executed once: ${statuses.join(' → ')}`,
    );
    assert.equal(statuses.at(-1), 'SUCCEEDED');
    const after = await web();
    assert.equal(after.id, before.id, 'restarted in place');
    assert.ok(Date.parse(after.startedAt) > Date.parse(before.startedAt), 'the container really restarted');
    // The same job id never runs again.
    await new Promise((res) => setTimeout(res, 3000));
    assert.equal((await web()).startedAt, after.startedAt);
  }));

test('a poison job lands in the DLQ after maxReceiveCount, is listed with its reason, redriven, and completes', () =>
  withLogsOnFailure(e2e, async () => {
    // A bad deploy of the dispatcher: its idempotency table does not exist, so every delivery fails.
    const good = process.env.IDEMPOTENCY_TABLE!;
    process.env.IDEMPOTENCY_TABLE = `${good}-missing`;
    let jobId: string;
    try {
      jobId = (
        await e2e.cliJson('jobs', 'enqueue', 'kiosk-1', 'restart-service', '--service', 'web', '--reason', 'poison')
      ).jobId;
      await waitFor(
        'the job message in the DLQ',
        async () => {
          const d = await e2e.cliJson('dlq', 'list');
          return d.messages.some((m: any) => m.jobId === jobId) ? d : undefined;
        },
        120_000,
        1000,
      );
    } finally {
      process.env.IDEMPOTENCY_TABLE = good;
    }
    const list = await e2e.cliJson('dlq', 'list');
    const letter = list.messages.find((m: any) => m.jobId === jobId);
    assert.equal(letter.deviceId, 'kiosk-1');
    assert.equal(letter.receiveCount, 5, 'maxReceiveCount receives, then SQS moved it');
    assert.match(letter.reason, /idempotency|ResourceNotFound|missing/i);
    assert.equal((await e2e.cliJson('jobs', jobId)).status, 'QUEUED', 'nothing happened to the job meanwhile');
    const human = await e2e.cli('dlq', 'list');
    assert.match(human.stdout, /1 message\(s\)/);

    const dry = await e2e.cliJson('dlq', 'redrive', '--dry-run');
    assert.equal(dry.matched, 1);
    assert.equal(dry.redriven, 0);
    assert.equal((await e2e.cliJson('dlq', 'list')).depth, 1, 'a dry run moves nothing');

    const redrive = await e2e.cliJson('dlq', 'redrive', '--filter', 'dempotency');
    assert.equal(redrive.redriven, 1);
    const done = await waitFor(
      'the redriven job SUCCEEDED',
      async () => {
        const j = await e2e.cliJson('jobs', jobId);
        return j.status === 'SUCCEEDED' ? j : undefined;
      },
      60_000,
      500,
    );
    assert.equal(done.jobId, jobId, 'same id');
    assert.equal(done.history.filter((h: any) => h.status === 'IN_PROGRESS').length, 1);
    assert.equal((await e2e.cliJson('dlq', 'list')).depth, 0);
  }));
