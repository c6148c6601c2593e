/**
 * Scenario 4, the timeout path: a job the agent takes IN_PROGRESS and then never answers (the agent is killed
 * mid-job and stays down) is marked TIMED_OUT by the scheduled sweeper once its in-progress timeout passes
 * (enqueued with `--in-progress-timeout 30`, as an operator may, instead of restart-service's 300 s default; the
 * sweeper runs every 2 s here), and follows its retry policy (RETRY: attempt 2 is queued after its 30-60 s backoff);
 * the agent, back up, runs attempt 2 (a restart that waits out the engine's 10 s stop timeout, well inside the
 * 30 s the retry keeps: room for a busy CI machine) and the job ends SUCCEEDED.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startE2e, waitFor, withLogsOnFailure, type AgentProcess, type E2e } from './support/e2e.js';

/** The job's own in-progress timeout (seconds); every attempt gets it. */
const TIMEOUT_S = 30;

let e2e: E2e;
let agent: AgentProcess;
before(async () => {
  e2e = await startE2e('timeout');
  await e2e.register('meter-1');
  // Ignores SIGTERM: a restart waits out the engine's stop timeout, so the job stays IN_PROGRESS for seconds.
  await e2e.setTarget('meter-1', {
    services: { slowstop: { image: e2e.image('1'), command: ['sh', '-c', 'trap "" TERM; while :; do sleep 1; done'] } },
  });
  agent = await e2e.startAgent('meter-1');
  await waitFor(
    'slowstop running',
    async () =>
      (await e2e.cliJson('device', 'meter-1')).services.find((s: any) => s.name === 'slowstop')?.status === 'running',
    90_000,
    500,
  );
});
after(() => e2e?.close());

test('a job the agent never answers ends TIMED_OUT and is retried per its policy', { timeout: 300_000 }, () =>
  withLogsOnFailure(e2e, async () => {
    const enqueued = await e2e.cliJson(
      'jobs',
      'enqueue',
      'meter-1',
      'restart-service',
      '--service',
      'slowstop',
      '--in-progress-timeout',
      String(TIMEOUT_S),
    );
    const jobId: string = enqueued.jobId;
    assert.equal(enqueued.inProgressTimeoutSeconds, TIMEOUT_S);
    await waitFor(
      'the agent took the job',
      async () => (await e2e.cliJson('jobs', jobId)).status === 'IN_PROGRESS',
      60_000,
      100,
    );
    await agent.kill();

    const timedOut = await waitFor(
      'TIMED_OUT by the sweeper and re-armed as attempt 2',
      async () => {
        const j = await e2e.cliJson('jobs', jobId);
        return j.history.some((h: any) => h.status === 'TIMED_OUT') ? j : undefined;
      },
      // Its own timeout (not restart-service's 300 s default), a sweeper tick and slack for a busy machine.
      (TIMEOUT_S + 40) * 1000,
      500,
    );
    const entry = timedOut.history.find((h: any) => h.status === 'TIMED_OUT');
    assert.equal(entry.attempt, 1);
    assert.match(entry.by, /sweeper/);
    assert.equal(timedOut.attempt, 2, `RETRY policy: ${JSON.stringify(timedOut.history)}`);
    assert.ok(['QUEUED', 'IN_PROGRESS'].includes(timedOut.status));
    assert.ok(
      Date.parse(entry.at) -
        Date.parse(timedOut.history.find((h: any) => h.status === 'IN_PROGRESS' && h.attempt === 1).at) >=
        TIMEOUT_S * 1000,
      'not before its deadline',
    );
    assert.equal(timedOut.inProgressTimeoutSeconds, TIMEOUT_S, "the retry keeps the job's timeout");
    const ev = await e2e.cliJson('events', '--device', 'meter-1', '--type', 'job.timed_out');
    assert.equal(ev.events.length, 1);

    agent = await agent.restart();
    const done = await waitFor(
      'attempt 2 SUCCEEDED',
      async () => {
        const j = await e2e.cliJson('jobs', jobId);
        return ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELED', 'REJECTED'].includes(j.status) ? j : undefined;
      },
      // The retry's backoff (at most 60 s), dispatch, and the 10 s restart.
      150_000,
      1000,
    );
    assert.equal(done.status, 'SUCCEEDED', JSON.stringify(done.history));
    assert.equal(done.attempt, 2);
    assert.equal(
      done.history.filter((h: any) => h.status === 'IN_PROGRESS' && h.attempt === 2).length,
      1,
      'attempt 2 ran once',
    );
  }),
);
