/**
 * Poison messages, the jobs DLQ and redrive, against moto's real SQS semantics (receive counts, redrive policy).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { createJob, getJob } from '../../../functions/adapters/jobs-repo.js';
import { newJob } from '../../../functions/domain/job-lifecycle.js';
import { UNRECORDED_REASON } from '../../../functions/domain/dead-letters.js';
import { sendJobMessage } from '../../../functions/adapters/job-queue.js';
import { deliver, depth, receive } from './support/esm.js';
import { device, enqueue, operator, registerDevice } from './support/fleet.js';
import { createJobsFixture, type JobsFixture } from './support/jobs-fixture.js';

let fx: JobsFixture;

before(async () => {
  fx = await createJobsFixture();
});
after(() => fx.close());

const jobsQueue = () => fx.infra.env.JOBS_QUEUE_URL!;
const jobsDlq = () => fx.infra.env.JOBS_DLQ_URL!;

/** Receive/deliver rounds until the jobs queue is empty; returns the receive counts seen per message id. */
async function runUntilEmpty(rounds = 12): Promise<Map<string, number[]>> {
  const seen = new Map<string, number[]>();
  for (let i = 0; i < rounds; i++) {
    const messages = await receive(fx.sqs, jobsQueue(), { waitSeconds: i === 0 ? 1 : 0 });
    if (messages.length === 0) {
      const q = await depth(fx.sqs, jobsQueue());
      if (q.visible + q.inFlight === 0) break;
      continue;
    }
    for (const m of messages)
      seen.set(m.MessageId!, [...(seen.get(m.MessageId!) ?? []), Number(m.Attributes!.ApproximateReceiveCount)]);
    await deliver(fx.sqs, jobsQueue(), fx.dispatcher, messages);
  }
  return seen;
}

describe('dead letters', () => {
  test('a poison message reaches the DLQ after maxReceiveCount receives with its reason; redrive brings it back and it completes', async () => {
    const token = await registerDevice('poison-1');
    const res = await enqueue('poison-1', { type: 'restart-service', params: { service: 'web' } });
    assert.equal(res.status, 202);
    const jobId = res.body.jobId as string;
    const before = await getJob(jobId);

    // A bad deploy: the dispatcher's idempotency table does not exist, so every dispatch fails.
    const goodTable = process.env.IDEMPOTENCY_TABLE!;
    process.env.IDEMPOTENCY_TABLE = `${fx.infra.prefix}-no-such-table`;
    let seen: Map<string, number[]>;
    try {
      seen = await runUntilEmpty();
    } finally {
      process.env.IDEMPOTENCY_TABLE = goodTable;
    }
    assert.deepEqual([...seen.values()], [[1, 2, 3, 4, 5]], 'received exactly maxReceiveCount (5) times');
    const q = await depth(fx.sqs, jobsQueue());
    assert.equal(q.visible + q.inFlight + q.delayed, 0);

    const list = await operator('GET', '/v1/dlq', undefined, { queue: 'jobs' });
    assert.equal(list.status, 200);
    assert.equal(list.body.depth, 1);
    const [letter] = list.body.messages;
    assert.equal(letter.jobId, jobId);
    assert.equal(letter.deviceId, 'poison-1');
    assert.equal(letter.receiveCount, 5);
    assert.match(letter.reason, /Idempotency|ResourceNotFound|no-such-table/i, letter.reason);
    assert.equal(list.body.groups.length, 1);

    // Dry run: reports, moves nothing.
    const dry = await operator('POST', '/v1/dlq/redrive', { dryRun: true });
    assert.equal(dry.status, 200);
    assert.deepEqual([dry.body.matched, dry.body.redriven], [1, 0]);
    assert.equal((await depth(fx.sqs, jobsDlq())).visible, 1);

    const redrive = await operator('POST', '/v1/dlq/redrive', { queue: 'jobs' });
    assert.deepEqual([redrive.body.matched, redrive.body.redriven], [1, 1]);
    assert.equal((await depth(fx.sqs, jobsDlq())).visible, 0);
    const [back] = await receive(fx.sqs, jobsQueue(), { waitSeconds: 1 });
    assert.ok(back);
    assert.equal(back!.MessageAttributes?.failureReason, undefined, 'failure attributes are stripped');
    assert.equal(back!.MessageAttributes?.redriveCount?.StringValue, '1');
    assert.equal((await deliver(fx.sqs, jobsQueue(), fx.dispatcher, [back!])).failed.size, 0);

    // Same job id, same history; the device now gets it and completes it.
    const dispatched = await getJob(jobId);
    assert.equal(dispatched?.pendingDeviceId, 'poison-1');
    assert.deepEqual(dispatched?.history, before?.history);
    const started = await device(token, 'PUT', `/v1/devices/poison-1/jobs/${jobId}`, {
      status: 'IN_PROGRESS',
      expectedVersion: dispatched!.version,
    });
    assert.equal(started.status, 200, started.raw);
    const done = await device(token, 'PUT', `/v1/devices/poison-1/jobs/${jobId}`, {
      status: 'SUCCEEDED',
      expectedVersion: started.body.version,
    });
    assert.equal(done.status, 200, done.raw);
    assert.equal((await getJob(jobId))?.status, 'SUCCEEDED');
  });

  test('malformed and unknown messages never crash a batch: they dead-letter with their reason, grouped by pattern; redrive filters and paces', async () => {
    await registerDevice('bad-1');
    const good = await enqueue('bad-1', { type: 'run-health-check', params: {} });
    // A job record of a type this dispatcher does not know (written by a newer version, say).
    const alien = newJob({
      jobId: 'job_ALIENALIENALIEN01',
      deviceId: 'bad-1',
      type: 'reboot-the-moon',
      params: {},
      correlationId: 'c-alien',
      by: 'operator',
      now: Date.now(),
    });
    await createJob(alien);
    await sendJobMessage(alien);
    await sendJobMessage({
      jobId: 'job_MISSINGMISSING001',
      deviceId: 'bad-1',
      type: 'restart-service',
      correlationId: 'c-1',
    });
    await sendJobMessage({
      jobId: 'job_MISSINGMISSING002',
      deviceId: 'bad-1',
      type: 'restart-service',
      correlationId: 'c-2',
    });
    await fx.sqs.send(new SendMessageCommand({ QueueUrl: jobsQueue(), MessageBody: 'this is not json' }));

    // The first batch holds the good job and the bad ones together: the good one goes through.
    const first = await receive(fx.sqs, jobsQueue(), { waitSeconds: 1 });
    assert.equal(first.length, 5);
    const d = await deliver(fx.sqs, jobsQueue(), fx.dispatcher, first);
    assert.equal(d.failed.size, 4, 'only the four bad items fail');
    assert.equal((await getJob(good.body.jobId))?.pendingDeviceId, 'bad-1');
    await runUntilEmpty();

    const list = await operator('GET', '/v1/dlq', undefined, { queue: 'jobs', max: '50' });
    assert.equal(list.body.depth, 4);
    assert.equal(list.body.messages.length, 4);
    const groups = list.body.groups as { pattern: string; count: number }[];
    assert.deepEqual(groups[0], { ...groups[0], pattern: 'job <job> not found', count: 2 });
    assert.equal(groups.length, 3);
    const reasons = (list.body.messages as { reason: string }[]).map((m) => m.reason).sort();
    assert.ok(
      reasons.some((r) => r === 'unknown job type "reboot-the-moon"'),
      reasons.join(' | '),
    );
    assert.ok(
      reasons.some((r) => r.startsWith('malformed job message: body is not JSON')),
      reasons.join(' | '),
    );
    for (const m of list.body.messages) assert.equal(m.receiveCount, 5);

    // Listing never deletes or hides: a second listing sees the same.
    const again = await operator('GET', '/v1/dlq', undefined, { queue: 'jobs', max: '50' });
    assert.equal(again.body.messages.length, 4);

    const dry = await operator('POST', '/v1/dlq/redrive', { filter: 'NOT FOUND', dryRun: true });
    assert.deepEqual([dry.body.matched, dry.body.redriven], [2, 0]);
    const started = Date.now();
    const moved = await operator('POST', '/v1/dlq/redrive', { filter: 'not found', ratePerSecond: 2 });
    const elapsed = Date.now() - started;
    assert.deepEqual([moved.body.matched, moved.body.redriven], [2, 2]);
    assert.ok(elapsed >= 450, `2 messages at 2/s take at least 0.5 s (took ${elapsed} ms)`);
    assert.deepEqual(moved.body.messages.map((m: { jobId: string }) => m.jobId).sort(), [
      'job_MISSINGMISSING001',
      'job_MISSINGMISSING002',
    ]);
    assert.equal((await depth(fx.sqs, jobsDlq())).visible, 2);
    assert.equal((await receive(fx.sqs, jobsQueue(), { waitSeconds: 1 })).length, 2);
  });

  test("a message whose consumer crashes every time is moved by the queue's own redrive policy, listed without a recorded reason", async () => {
    const { MessageId } = await fx.sqs.send(
      new SendMessageCommand({ QueueUrl: fx.infra.env.ALERTS_QUEUE_URL!, MessageBody: '{"crash":true}' }),
    );
    // No consumer ever acknowledges it: each receive lets it become visible again at once.
    for (let i = 0; i < 7; i++) await receive(fx.sqs, fx.infra.env.ALERTS_QUEUE_URL!, { visibility: 0 });
    const list = await operator('GET', '/v1/dlq', undefined, { queue: 'alerts' });
    assert.equal(list.status, 200);
    const letter = (list.body.messages as { messageId: string; reason: string }[]).find(
      (m) => m.messageId === MessageId,
    );
    assert.ok(letter, `moved to the alerts DLQ: ${JSON.stringify(list.body)}`);
    assert.equal(letter.reason, UNRECORDED_REASON);
  });

  test('a job stored in a shape that cannot be read is dead-lettered on its first receive, saying so', async () => {
    await registerDevice('unreadable-1');
    const res = await enqueue('unreadable-1', { type: 'restart-service', params: { service: 'web' } });
    assert.equal(res.status, 202);
    const jobId = res.body.jobId as string;
    // What the SDK cannot turn into JavaScript: a number that is neither a safe integer nor an integer at all.
    const { DynamoDBClient, UpdateItemCommand } = await import('@aws-sdk/client-dynamodb');
    const raw = new DynamoDBClient({});
    try {
      await raw.send(
        new UpdateItemCommand({
          TableName: fx.infra.env.JOBS_TABLE!,
          Key: { jobId: { S: jobId } },
          UpdateExpression: 'SET statusDetails = :d',
          ExpressionAttributeValues: { ':d': { M: { progress: { N: '1.5e20' } } } },
        }),
      );
    } finally {
      raw.destroy();
    }

    const seen = await runUntilEmpty();
    assert.deepEqual([...seen.values()], [[1]], 'received once, not retried maxReceiveCount times');
    const list = await operator('GET', '/v1/dlq', undefined, { queue: 'jobs' });
    const letter = (list.body.messages as { jobId?: string; reason: string; receiveCount: number }[]).find(
      (m) => m.jobId === jobId,
    );
    assert.ok(letter, `dead-lettered: ${JSON.stringify(list.body)}`);
    assert.equal(letter.receiveCount, 1);
    assert.match(
      letter.reason,
      new RegExp(`${jobId} \\(job\\) is stored in a shape that cannot be read.*runbook`),
      letter.reason,
    );
  });
});
