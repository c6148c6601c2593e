/**
 * The dispatcher against moto: duplicate deliveries, racing dispatchers, held jobs while a circuit is open.
 * Messages are really sent to and received from the jobs queue; the real handlers run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createDispatcher } from '../../../functions/services/job-dispatch.js';
import { getJob } from '../../../functions/adapters/jobs-repo.js';
import { sendJobMessage } from '../../../functions/adapters/job-queue.js';
import { recordFailure, readCircuit, resetCircuit } from '../../../functions/services/circuit-breaker.js';
import { documentClient } from '../../../functions/lib/aws.js';
import { deliver, depth, receive } from './support/esm.js';
import { device, enqueue, eventsOf, registerDevice } from './support/fleet.js';
import { createJobsFixture, type JobsFixture } from './support/jobs-fixture.js';

let fx: JobsFixture;
const TARGET = { services: { web: { image: 'registry.local/lab/busybox:1' } } };

before(async () => {
  // Race assertions rely on the test emulator serialising DynamoDB requests (test/support/moto.ts).
  // A short cooldown so a held job comes back within the test.
  fx = await createJobsFixture({
    CIRCUIT_FAILURE_THRESHOLD: '2',
    CIRCUIT_COOLDOWN_SECONDS: '2',
    CIRCUIT_MAX_COOLDOWN_SECONDS: '2',
  });
});
after(() => fx.close());

async function idempotencyRecords(): Promise<Record<string, any>[]> {
  const res = await documentClient().send(new ScanCommand({ TableName: fx.infra.env.IDEMPOTENCY_TABLE! }));
  return res.Items ?? [];
}

describe('job dispatcher', () => {
  test('the same message delivered twice has one effect (cloud-side set-target-state)', async () => {
    await registerDevice('dup-1');
    const res = await enqueue('dup-1', { type: 'set-target-state', params: { target: TARGET } });
    assert.equal(res.status, 202);
    const jobId = res.body.jobId as string;
    const [message, ...rest] = await receive(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, { waitSeconds: 1 });
    assert.ok(message, 'the enqueue route published the job');
    assert.equal(rest.length, 0);
    assert.equal(JSON.parse(message.Body!).jobId, jobId);

    // First delivery: not deleted afterwards (as if the ESM's delete was lost) ...
    const first = await deliver(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, fx.dispatcher, [message], { keep: true });
    assert.equal(first.failed.size, 0);
    const done = await getJob(jobId);
    assert.equal(done?.status, 'SUCCEEDED');
    assert.equal(done?.statusDetails?.appliedCloudSide, true);
    // ... so SQS delivers the very same message again.
    const second = await deliver(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, fx.dispatcher, [message]);
    assert.equal(second.failed.size, 0, 'a duplicate is acknowledged, not failed');
    const after = await getJob(jobId);
    assert.equal(after?.version, done?.version, 'no second transition');
    assert.equal(after?.history.filter((h) => h.status === 'SUCCEEDED').length, 1);
    assert.equal((await eventsOf(fx.infra.env.EVENTS_TABLE!, 'dup-1', 'command.succeeded')).length, 1);
  });

  test('a device command is dispatched once to the device pending list, however often it is delivered', async () => {
    const token = await registerDevice('dup-2');
    const res = await enqueue('dup-2', { type: 'restart-service', params: { service: 'web' } });
    const jobId = res.body.jobId as string;
    const [message] = await receive(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, { waitSeconds: 1 });
    assert.ok(message);
    await deliver(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, fx.dispatcher, [message!], { keep: true });
    await deliver(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, fx.dispatcher, [message!], { keep: true });
    // The outbox publishing it a second time is a different message with the same job: still one effect.
    await sendJobMessage({ ...res.body, attempt: 1 });
    const [copy] = await receive(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, { waitSeconds: 1 });
    assert.ok(copy);
    await deliver(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, fx.dispatcher, [copy!, message!]);

    const job = await getJob(jobId);
    assert.equal(job?.status, 'QUEUED');
    assert.equal(job?.pendingDeviceId, 'dup-2');
    assert.equal(job?.version, 1, 'dispatching is not a status transition; nothing else moved');
    const pending = await device(token, 'GET', '/v1/devices/dup-2/jobs/pending');
    assert.equal(pending.status, 200);
    assert.deepEqual(
      pending.body.jobs.map((j: { jobId: string }) => j.jobId),
      [jobId],
    );
    const records = (await idempotencyRecords()).filter((r) => r.status === 'COMPLETED');
    assert.ok(records.length >= 1, 'Powertools idempotency recorded the dispatch');
  });

  test('two dispatchers racing on one job produce one transition', async () => {
    await registerDevice('race-1');
    for (let round = 0; round < 4; round++) {
      const res = await enqueue('race-1', {
        type: 'set-target-state',
        params: { target: { services: { web: { image: `registry.local/lab/busybox:${round + 1}` } } } },
      });
      const jobId = res.body.jobId as string;
      // Two more copies of the message (the outbox and the route both published it, plus an SQS duplicate).
      await sendJobMessage({ ...res.body, attempt: 1 });
      await sendJobMessage({ ...res.body, attempt: 1 });
      let messages = await receive(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, { waitSeconds: 1 });
      assert.equal(messages.length, 3);
      // Three dispatchers (separate invocations) at once, then redeliveries until the queue is empty.
      for (let i = 0; i < 5 && messages.length; i++) {
        await Promise.all(
          messages.map((m) =>
            deliver(
              fx.sqs,
              fx.infra.env.JOBS_QUEUE_URL!,
              createDispatcher({ backoff: { baseSeconds: 0, maxSeconds: 0 } }),
              [m],
            ),
          ),
        );
        messages = await receive(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, { waitSeconds: 0 });
      }
      const job = await getJob(jobId);
      assert.equal(job?.status, 'SUCCEEDED');
      assert.equal(job?.version, 2, 'exactly one transition: QUEUED → SUCCEEDED');
      assert.equal(job?.history.length, 2);
      const events = (await eventsOf(fx.infra.env.EVENTS_TABLE!, 'race-1', 'command.succeeded')).filter(
        (e) => e.detail.jobId === jobId,
      );
      assert.equal(events.length, 1, 'one event');
      const q = await depth(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!);
      assert.equal(q.visible + q.inFlight, 0);
    }
  });

  test('while the device circuit is open its jobs are held (not failed, receive count not consumed), then dispatched', async () => {
    await registerDevice('held-1');
    const res = await enqueue('held-1', { type: 'restart-service', params: { service: 'web' } });
    const jobId = res.body.jobId as string;
    // The circuit opens after the job was accepted (threshold 2).
    await recordFailure('held-1');
    await recordFailure('held-1');
    assert.equal((await readCircuit('held-1')).state, 'open');

    const [message] = await receive(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, { waitSeconds: 1 });
    assert.ok(message);
    const d = await deliver(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, fx.dispatcher, [message!]);
    assert.equal(d.failed.size, 0, 'holding is not a failure');
    assert.equal((await getJob(jobId))?.pendingDeviceId, undefined, 'not dispatched while open');
    const q = await depth(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!);
    assert.equal(q.delayed + q.visible, 1, 'a fresh delayed copy waits for the cooldown');

    // After the cooldown the copy comes back as a first receive and the job becomes the half-open probe.
    let copy: Awaited<ReturnType<typeof receive>> = [];
    for (let i = 0; i < 10 && copy.length === 0; i++)
      copy = await receive(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, { waitSeconds: 1 });
    assert.equal(copy.length, 1);
    assert.equal(copy[0]!.Attributes?.ApproximateReceiveCount, '1', 'the held copy starts a fresh receive count');
    assert.equal(copy[0]!.MessageAttributes?.heldCount?.StringValue, '1');
    await deliver(fx.sqs, fx.infra.env.JOBS_QUEUE_URL!, fx.dispatcher, copy);
    const job = await getJob(jobId);
    assert.equal(job?.pendingDeviceId, 'held-1');
    const circuit = await readCircuit('held-1');
    assert.equal(circuit.state, 'half-open');
    assert.equal(circuit.probeOwner, jobId);
    await resetCircuit('held-1', 'test');
  });
});
