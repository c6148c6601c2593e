/**
 * The transactional outbox: a job whose SQS send failed at enqueue is published later by the outbox publisher
 * and completes; a crash between send and mark only duplicates (harmless); bad enqueue input writes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { publishOutbox, OUTBOX_GRACE_MS } from '../../../functions/services/outbox-publishing.js';
import { createJob, getJob } from '../../../functions/adapters/jobs-repo.js';
import { sendJobMessage } from '../../../functions/adapters/job-queue.js';
import { newJob } from '../../../functions/domain/job-lifecycle.js';
import { recordJobFailure } from '../../../functions/services/job-failures.js';
import type { RetryPolicies } from '../../../functions/domain/retry-policy.js';
import { countItems, device, enqueue, operator, registerDevice } from './support/fleet.js';
import { deliver, depth, receive } from './support/esm.js';
import { createJobsFixture, type JobsFixture } from './support/jobs-fixture.js';

let fx: JobsFixture;

before(async () => {
  fx = await createJobsFixture();
});
after(() => fx.close());

const queueEmpty = async () => {
  const q = await depth(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!);
  return q.visible + q.inFlight + q.delayed === 0;
};

describe('transactional outbox', () => {
  test('an enqueue whose SQS send fails is published later by the outbox publisher and completes; nothing is lost', async () => {
    const token = await registerDevice('ob-1');
    // SQS is unreachable for the enqueue call only: its queue URL names a queue that does not exist.
    const goodUrl = process.env.JOBS_QUEUE_URL!;
    process.env.JOBS_QUEUE_URL = goodUrl.replace(/[^/]+$/, `${fx.infra.prefix}-no-such-queue`);
    let res: Awaited<ReturnType<typeof enqueue>>;
    try {
      res = await enqueue('ob-1', { type: 'restart-service', params: { service: 'web' } });
    } finally {
      process.env.JOBS_QUEUE_URL = goodUrl;
    }
    assert.equal(res.status, 202, 'the job is accepted: it is safe in the outbox');
    const jobId = res.body.jobId as string;
    const stored = await getJob(jobId);
    assert.equal(stored?.publishState, 'unpublished');
    assert.ok(stored?.outboxShard);
    assert.ok(await queueEmpty());

    // Within the grace period the publisher leaves it to the writer (which may still be publishing it).
    const early = await publishOutbox({ now: Date.now() });
    assert.equal(early.unpublished, 1);
    assert.equal(early.published, 0);

    const later = Date.now() + OUTBOX_GRACE_MS + 5_000;
    const run = await publishOutbox({ now: later });
    assert.deepEqual([run.unpublished, run.published, run.failed], [1, 1, 0]);
    assert.ok(run.oldestAgeSeconds >= 15, `oldest age ${run.oldestAgeSeconds}s`);
    const published = await getJob(jobId);
    assert.equal(published?.publishState, 'published');
    assert.equal(published?.outboxShard, undefined, 'off the outbox index');
    const next = await publishOutbox({ now: later + 60_000 });
    assert.equal(next.unpublished, 0, 'nothing is published twice by the publisher itself');

    const messages = await receive(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, { waitSeconds: 1 });
    assert.equal(messages.length, 1);
    assert.equal(JSON.parse(messages[0]!.Body!).jobId, jobId);
    assert.equal(
      messages[0]!.MessageAttributes?.correlationId?.StringValue,
      res.body.correlationId,
      'the correlation id travels with the message',
    );
    await deliver(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, fx.dispatcher, messages);
    const pending = await device(token, 'GET', '/v1/devices/ob-1/jobs/pending');
    assert.deepEqual(
      pending.body.jobs.map((j: { jobId: string }) => j.jobId),
      [jobId],
    );
    const v = pending.body.jobs[0].version as number;
    const started = await device(token, 'PUT', `/v1/devices/ob-1/jobs/${jobId}`, {
      status: 'IN_PROGRESS',
      expectedVersion: v,
    });
    const done = await device(token, 'PUT', `/v1/devices/ob-1/jobs/${jobId}`, {
      status: 'SUCCEEDED',
      expectedVersion: started.body.version,
    });
    assert.equal(done.status, 200, done.raw);
    assert.equal((await getJob(jobId))?.status, 'SUCCEEDED');
  });

  test('a crash between SendMessage and the outbox mark only duplicates the message: one effect', async () => {
    await registerDevice('ob-2');
    const now = Date.now();
    const job = newJob({
      jobId: 'job_CRASHAFTERSEND001',
      deviceId: 'ob-2',
      type: 'restart-service',
      params: { service: 'web' },
      correlationId: 'c-crash',
      by: 'operator',
      now,
    });
    await createJob(job);
    await sendJobMessage(job); // ... and the writer died before marking it published
    const run = await publishOutbox({ now: now + OUTBOX_GRACE_MS + 1 });
    assert.equal(run.published, 1);
    const messages = await receive(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, { waitSeconds: 1 });
    assert.equal(messages.length, 2, 'two messages for one job');
    const d = await deliver(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, fx.dispatcher, messages);
    if (d.failed.size)
      await deliver(
        fx.sqs,
        fx.infra.env.JOBS_QUEUE_URL!,
        fx.dispatcher,
        await receive(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, { waitSeconds: 1 }),
      );
    const stored = await getJob(job.jobId);
    assert.equal(stored?.pendingDeviceId, 'ob-2');
    assert.equal(stored?.version, 1);
    assert.ok(await queueEmpty());
  });

  test('a job cancelled before it was published leaves the outbox without being sent', async () => {
    await registerDevice('ob-4');
    const goodUrl = process.env.JOBS_QUEUE_URL!;
    process.env.JOBS_QUEUE_URL = goodUrl.replace(/[^/]+$/, `${fx.infra.prefix}-no-such-queue`);
    let res: Awaited<ReturnType<typeof enqueue>>;
    try {
      res = await enqueue('ob-4', { type: 'restart-service', params: { service: 'web' } });
    } finally {
      process.env.JOBS_QUEUE_URL = goodUrl;
    }
    const cancel = await operator('POST', `/v1/jobs/${res.body.jobId}/cancel`);
    assert.equal(cancel.status, 200, cancel.raw);
    const run = await publishOutbox({ now: Date.now() + OUTBOX_GRACE_MS + 1_000 });
    assert.deepEqual([run.retired, run.unpublished, run.published], [1, 0, 0]);
    assert.equal((await getJob(res.body.jobId))?.outboxShard, undefined);
    assert.ok(await queueEmpty(), 'nothing sent for a cancelled job');
  });

  test('a retry waits out its backoff: published with DelaySeconds, and deferred again if it arrives early', async () => {
    await registerDevice('ob-5');
    const now = Date.now();
    const job = newJob({
      jobId: 'job_RETRYBACKOFF00001',
      deviceId: 'ob-5',
      type: 'restart-service',
      params: { service: 'web' },
      correlationId: 'c-retry',
      by: 'operator',
      now,
    });
    await createJob(job);
    const policies: RetryPolicies = {
      'restart-service': {
        onFailure: {
          FAILED: {
            strategy: 'RETRY',
            maxAttempts: 3,
            baseDelaySeconds: 60,
            maxDelaySeconds: 60,
            whenExhausted: 'ESCALATE',
          },
          TIMED_OUT: { strategy: 'SKIP' },
        },
      },
    };
    // The retry's own publication fails (publishRetry off stands in for an SQS outage): it stays in the outbox.
    const r = await recordJobFailure(job, {
      kind: 'FAILED',
      by: 'ob-5',
      error: 'exit 1',
      now,
      policies,
      random: () => 0.999,
      publishRetry: false,
      countOnCircuit: false,
    });
    assert.equal(r.outcome, 'applied');
    const rearmed = await getJob(job.jobId);
    assert.deepEqual([rearmed?.status, rearmed?.attempt, rearmed?.publishState], ['QUEUED', 2, 'unpublished']);

    const run = await publishOutbox({ now: now + OUTBOX_GRACE_MS + 1_000 });
    assert.equal(run.published, 1);
    const q = await depth(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!);
    assert.equal(q.delayed, 1, 'published with the rest of its backoff as DelaySeconds');
    assert.equal(q.visible, 0);

    // The same attempt arriving early (say, redriven from the DLQ) is sent back to wait, not dispatched.
    await sendJobMessage({ ...job, attempt: 2 });
    const early = await receive(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, { waitSeconds: 1 });
    assert.equal(early.length, 1);
    const d = await deliver(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, fx.dispatcher, early);
    assert.equal(d.failed.size, 0, 'deferring is not a failure');
    assert.equal((await getJob(job.jobId))?.pendingDeviceId, undefined, 'not dispatched before its time');
    assert.equal((await depth(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!)).delayed, 2);
  });

  test('enqueue with an unknown command type or for an unknown device answers 4xx and writes nothing', async () => {
    await registerDevice('ob-3');
    const jobsBefore = await countItems(fx.infra.env.JOBS_TABLE!);
    const queueBefore = await depth(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!);
    const unknownType = await enqueue('ob-3', { type: 'reboot-the-moon', params: {} });
    assert.equal(unknownType.status, 400);
    assert.equal(unknownType.body.error, 'validation_failed');
    const unknownDevice = await enqueue('no-such-device', { type: 'restart-service', params: { service: 'web' } });
    assert.equal(unknownDevice.status, 404);
    assert.equal(unknownDevice.body.error, 'not_found');
    const badParams = await enqueue('ob-3', { type: 'restart-service', params: { service: 'Not A Name!' } });
    assert.equal(badParams.status, 400);
    assert.equal(await countItems(fx.infra.env.JOBS_TABLE!), jobsBefore);
    assert.deepEqual(await depth(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!), queueBefore, 'nothing sent');
  });
});
