/**
 * In-progress timeouts: the sweeper marks overdue jobs TIMED_OUT with a conditional write and applies the job
 * type's policy (RETRY a new attempt of the same job id, then ESCALATE with an alert), counting each timeout
 * on the device's circuit breaker. A timeout chosen at enqueue (`inProgressTimeoutSeconds`) replaces the job type's
 * default for every attempt.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sweepTimeouts } from '../../../functions/handlers/job-timeout-sweeper.js';
import { getJob } from '../../../functions/adapters/jobs-repo.js';
import { readCircuit } from '../../../functions/adapters/circuit-repo.js';
import type { RetryPolicies } from '../../../functions/domain/retry-policy.js';
import { deliver, receive } from './support/esm.js';
import { countItems, device, enqueue, eventsOf, operator, registerDevice } from './support/fleet.js';
import { createJobsFixture, type JobsFixture } from './support/jobs-fixture.js';

let fx: JobsFixture;
/** restart-service as configured, but with no retry delay so the test need not wait for it. */
const policies: RetryPolicies = {
  'restart-service': {
    onFailure: {
      FAILED: { strategy: 'RETRY', maxAttempts: 2, baseDelaySeconds: 0, maxDelaySeconds: 0, whenExhausted: 'ESCALATE' },
      TIMED_OUT: {
        strategy: 'RETRY',
        maxAttempts: 2,
        baseDelaySeconds: 0,
        maxDelaySeconds: 0,
        whenExhausted: 'ESCALATE',
      },
    },
  },
};
const RESTART_TIMEOUT_MS = 300_000;

before(async () => {
  // Race assertions rely on the test emulator serialising DynamoDB requests (test/support/moto.ts).
  fx = await createJobsFixture();
});
after(() => fx.close());

/** Receive the job's message, dispatch it, and let the device start it. Returns the job version after the start. */
async function dispatchAndStart(token: string, deviceId: string, jobId: string, attempt: number): Promise<number> {
  const messages = await receive(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, { waitSeconds: 2 });
  assert.equal(messages.length, 1, 'one message for the attempt');
  assert.deepEqual([JSON.parse(messages[0]!.Body!).jobId, JSON.parse(messages[0]!.Body!).attempt], [jobId, attempt]);
  assert.equal((await deliver(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, fx.dispatcher, messages)).failed.size, 0);
  const pending = await device(token, 'GET', `/v1/devices/${deviceId}/jobs/pending`);
  const job = pending.body.jobs.find((j: { jobId: string }) => j.jobId === jobId);
  assert.ok(job, 'the device sees the job');
  assert.equal(job.attempt, attempt);
  const started = await device(token, 'PUT', `/v1/devices/${deviceId}/jobs/${jobId}`, {
    status: 'IN_PROGRESS',
    expectedVersion: job.version,
  });
  assert.equal(started.status, 200, started.raw);
  return started.body.version as number;
}

describe('job timeouts', () => {
  test('an IN_PROGRESS job past its timeout becomes TIMED_OUT, is retried per policy, and after max attempts ESCALATEs', async () => {
    const token = await registerDevice('to-1');
    const res = await enqueue('to-1', { type: 'restart-service', params: { service: 'web' } });
    const jobId = res.body.jobId as string;
    await dispatchAndStart(token, 'to-1', jobId, 1);
    const startedAt = Date.now();

    const early = await sweepTimeouts({ now: startedAt + RESTART_TIMEOUT_MS - 5_000, policies });
    assert.equal(early.timedOut, 0, 'not before its deadline');

    const first = await sweepTimeouts({ now: startedAt + RESTART_TIMEOUT_MS + 1_000, policies });
    assert.deepEqual([first.timedOut, first.retried], [1, 1]);
    const retried = await getJob(jobId);
    assert.equal(retried?.status, 'QUEUED');
    assert.equal(retried?.attempt, 2);
    assert.equal(retried?.pendingDeviceId, undefined, 'off the device list until dispatched again');
    assert.equal(retried?.timeoutShard, undefined, 'off the timeout list');
    assert.equal(retried?.publishState, 'published', 'the retry was published at once');
    assert.deepEqual(
      retried?.history.map((h) => [h.attempt, h.status, h.by]),
      [
        [1, 'QUEUED', 'operator:arn:aws:iam::123456789012:user/ops'],
        [1, 'IN_PROGRESS', 'to-1'],
        [1, 'TIMED_OUT', 'sweeper'],
        [2, 'QUEUED', 'retry-policy'],
      ].map((e, i) => (i === 0 ? [e[0], e[1], retried!.history[0]!.by] : e)),
    );
    assert.match(retried!.history[2]!.error!, /in-progress deadline/);
    assert.equal((await readCircuit('to-1')).consecutiveFailures, 1, 'a timeout counts on the circuit');

    // A second sweep finds nothing: the transition was made once.
    assert.equal((await sweepTimeouts({ now: startedAt + RESTART_TIMEOUT_MS + 2_000, policies })).timedOut, 0);

    // Attempt 2 goes through the queue again and times out as well → ESCALATE.
    await dispatchAndStart(token, 'to-1', jobId, 2);
    const second = await sweepTimeouts({ now: Date.now() + RESTART_TIMEOUT_MS + 1_000, policies });
    assert.deepEqual([second.timedOut, second.ended], [1, 1]);
    const final = await getJob(jobId);
    assert.equal(final?.status, 'TIMED_OUT');
    assert.equal(final?.attempt, 2);
    assert.equal(final?.statusDetails?.recovery, 'ESCALATE');
    assert.ok(final?.expiresAt, 'terminal jobs get their TTL');
    assert.equal((await eventsOf(fx.infra.env.EVENTS_TABLE!, 'to-1', 'job.timed_out')).length, 2);
    const escalated = await eventsOf(fx.infra.env.EVENTS_TABLE!, 'to-1', 'job.escalated');
    assert.equal(escalated.length, 1);
    assert.equal(escalated[0]!.detail.jobId, jobId);
    assert.equal(escalated[0]!.correlationId, res.body.correlationId);
    assert.equal(
      (await eventsOf(fx.infra.env.EVENTS_TABLE!, 'to-1', 'alert.raised')).length,
      1,
      'the alerting pipeline raised JobEscalated',
    );
    const alerts = await receive(fx.sqs, fx.infra.env.ALERTS_QUEUE_URL!, { waitSeconds: 2 });
    assert.equal(alerts.length, 1);
    const alert = JSON.parse(JSON.parse(alerts[0]!.Body!).Message);
    assert.equal(alert.alertName, 'JobEscalated');
    assert.equal(alert.deviceId, 'to-1');
    assert.equal((await readCircuit('to-1')).consecutiveFailures, 2);

    // Terminal is final: neither the sweeper nor the device moves it again.
    assert.equal((await sweepTimeouts({ now: Date.now() + 10 * RESTART_TIMEOUT_MS, policies })).timedOut, 0);
    const late = await device(token, 'PUT', `/v1/devices/to-1/jobs/${jobId}`, {
      status: 'SUCCEEDED',
      expectedVersion: final!.version,
    });
    assert.equal(late.status, 409);
  });

  test('a timeout chosen at enqueue sets the IN_PROGRESS deadline of every attempt; the job views show it', async () => {
    const token = await registerDevice('to-3');
    const res = await enqueue('to-3', {
      type: 'restart-service',
      params: { service: 'web' },
      inProgressTimeoutSeconds: 20,
    });
    assert.equal(res.status, 202, res.raw);
    assert.equal(res.body.inProgressTimeoutSeconds, 20, 'the enqueue answer shows it');
    const jobId = res.body.jobId as string;
    assert.equal((await getJob(jobId))?.inProgressTimeoutSeconds, 20, 'stored on the job record');
    assert.equal(
      (await operator('GET', `/v1/jobs/${jobId}`)).body.inProgressTimeoutSeconds,
      20,
      'GET /v1/jobs/{jobId} shows it',
    );

    let before = Date.now();
    await dispatchAndStart(token, 'to-3', jobId, 1);
    let after = Date.now();
    const started = await getJob(jobId);
    assert.ok(
      started!.timeoutAtEpoch! >= before + 20_000 && started!.timeoutAtEpoch! <= after + 20_000,
      `deadline 20 s after the start, not ${RESTART_TIMEOUT_MS / 1000} s: ${started!.timeoutAtEpoch! - before} ms`,
    );
    const pending = await device(token, 'GET', '/v1/devices/to-3/jobs/pending');
    assert.equal(
      pending.body.jobs.find((j: { jobId: string }) => j.jobId === jobId).inProgressTimeoutSeconds,
      20,
      'the device sees it too',
    );

    assert.equal(
      (await sweepTimeouts({ now: started!.timeoutAtEpoch! - 1_000, policies })).timedOut,
      0,
      'not before its own deadline',
    );
    const swept = await sweepTimeouts({ now: started!.timeoutAtEpoch! + 1_000, policies });
    assert.deepEqual([swept.timedOut, swept.retried], [1, 1], 'timed out after 20 s, long before the 300 s default');
    const retried = await getJob(jobId);
    assert.deepEqual(
      [retried?.status, retried?.attempt, retried?.inProgressTimeoutSeconds],
      ['QUEUED', 2, 20],
      'the retry keeps the chosen timeout',
    );

    before = Date.now();
    const version = await dispatchAndStart(token, 'to-3', jobId, 2);
    after = Date.now();
    const second = await getJob(jobId);
    assert.ok(
      second!.timeoutAtEpoch! >= before + 20_000 && second!.timeoutAtEpoch! <= after + 20_000,
      `attempt 2's deadline is 20 s after its start too: ${second!.timeoutAtEpoch! - before} ms`,
    );
    // Finish it, so later sweeps in this file find only their own jobs.
    assert.equal(
      (await device(token, 'PUT', `/v1/devices/to-3/jobs/${jobId}`, { status: 'SUCCEEDED', expectedVersion: version }))
        .status,
      200,
    );
  });

  test("without a chosen timeout the job has none on record and gets its type's default", async () => {
    const token = await registerDevice('to-4');
    const res = await enqueue('to-4', { type: 'restart-service', params: { service: 'web' } });
    assert.equal(res.status, 202, res.raw);
    assert.equal('inProgressTimeoutSeconds' in res.body, false);
    const before = Date.now();
    const version = await dispatchAndStart(token, 'to-4', res.body.jobId, 1);
    const after = Date.now();
    const started = await getJob(res.body.jobId);
    assert.equal(started?.inProgressTimeoutSeconds, undefined);
    assert.ok(
      started!.timeoutAtEpoch! >= before + RESTART_TIMEOUT_MS && started!.timeoutAtEpoch! <= after + RESTART_TIMEOUT_MS,
    );
    assert.equal(
      (
        await device(token, 'PUT', `/v1/devices/to-4/jobs/${res.body.jobId}`, {
          status: 'SUCCEEDED',
          expectedVersion: version,
        })
      ).status,
      200,
    );
  });

  test('an out-of-range timeout is a 400 validation_failed that writes nothing', async () => {
    await registerDevice('to-5');
    const jobsBefore = await countItems(fx.infra.env.JOBS_TABLE!);
    for (const bad of [9, 86_401, 0, -1, 20.5, '20', null]) {
      const res = await enqueue('to-5', {
        type: 'restart-service',
        params: { service: 'web' },
        inProgressTimeoutSeconds: bad,
      });
      assert.equal(res.status, 400, `${JSON.stringify(bad)}: ${res.raw}`);
      assert.equal(res.body.error, 'validation_failed');
      assert.ok(
        res.body.details.issues.some((i: { path: string }) => i.path === 'inProgressTimeoutSeconds'),
        res.raw,
      );
    }
    assert.equal(await countItems(fx.infra.env.JOBS_TABLE!), jobsBefore, 'no job written');
    assert.equal((await receive(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, { waitSeconds: 1 })).length, 0, 'nothing queued');
  });

  test('a device update and the sweeper racing on one overdue job: exactly one transition wins', async () => {
    const token = await registerDevice('to-2');
    const res = await enqueue('to-2', { type: 'restart-service', params: { service: 'web' } });
    const jobId = res.body.jobId as string;
    const version = await dispatchAndStart(token, 'to-2', jobId, 1);
    const [update, sweep] = await Promise.all([
      device(token, 'PUT', `/v1/devices/to-2/jobs/${jobId}`, { status: 'SUCCEEDED', expectedVersion: version }),
      sweepTimeouts({ now: Date.now() + RESTART_TIMEOUT_MS + 1_000, policies }),
    ]);
    const job = await getJob(jobId);
    assert.equal(job?.version, version + 1, 'one transition');
    if (update.status === 200) {
      assert.equal(job?.status, 'SUCCEEDED');
      assert.equal(sweep.timedOut, 0);
    } else {
      assert.equal(update.status, 409);
      assert.equal(sweep.timedOut, 1);
      assert.equal(job?.status, 'QUEUED');
      assert.equal(job?.attempt, 2);
    }
  });
});
