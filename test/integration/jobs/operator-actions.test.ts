/**
 * The runbook's incident actions through the real operator API, queues and dispatcher on moto: reset every open
 * circuit (found through the sparse byOpenCircuit index, refused without confirmation, one audit event per
 * device), retry a stuck job now (a new attempt the dispatcher delivers), move a stuck job to the DLQ with a
 * reason (listed, redriven, delivered), and finished jobs answered 409 with nothing written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PurgeQueueCommand } from '@aws-sdk/client-sqs';
import { QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { getJob } from '../../../functions/adapters/jobs-repo.js';
import { readCircuit, recordFailure } from '../../../functions/services/circuit-breaker.js';
import { allShards, OPEN_CIRCUIT_SHARDS } from '../../../functions/domain/shards.js';
import { documentClient } from '../../../functions/lib/aws.js';
import { deliver, depth, receive } from './support/esm.js';
import { device, enqueue, eventsOf, OPERATOR, operator, registerDevice } from './support/fleet.js';
import { createJobsFixture, type JobsFixture } from './support/jobs-fixture.js';

let fx: JobsFixture;
before(async () => {
  fx = await createJobsFixture({ CIRCUIT_FAILURE_THRESHOLD: '2', CIRCUIT_COOLDOWN_SECONDS: '600' });
});
after(() => fx.close());

const jobsQueue = () => fx.infra.env.JOBS_QUEUE_URL!;
const jobsDlq = () => fx.infra.env.JOBS_DLQ_URL!;
const by = `operator:${OPERATOR.userArn}`;

async function tableDump(): Promise<string> {
  const out: unknown[] = [];
  for (const t of [fx.infra.env.FLEET_TABLE!, fx.infra.env.JOBS_TABLE!, fx.infra.env.EVENTS_TABLE!]) {
    const res = await documentClient().send(new ScanCommand({ TableName: t, ConsistentRead: true }));
    out.push((res.Items ?? []).map((i) => JSON.stringify(i, Object.keys(i).sort())).sort());
  }
  return JSON.stringify(out);
}

async function openCircuitIndex(): Promise<string[]> {
  const ids: string[] = [];
  for (const shard of allShards('circ', OPEN_CIRCUIT_SHARDS)) {
    const res = await documentClient().send(
      new QueryCommand({
        TableName: fx.infra.env.FLEET_TABLE!,
        IndexName: 'byOpenCircuit',
        KeyConditionExpression: 'openCircuitShard = :s',
        ExpressionAttributeValues: { ':s': shard },
      }),
    );
    ids.push(...(res.Items ?? []).map((i) => String(i.pk).slice('DEVICE#'.length)));
  }
  return ids.sort();
}

describe('reset all circuits', () => {
  test('lists, refuses without confirm, then resets every open circuit with an audit event each', async () => {
    for (const d of ['circ-a', 'circ-b', 'circ-c']) await registerDevice(d);
    for (const d of ['circ-a', 'circ-b']) {
      await recordFailure(d);
      await recordFailure(d);
    }
    await recordFailure('circ-c'); // one failure: still closed
    assert.equal((await readCircuit('circ-a')).state, 'open');
    assert.deepEqual(await openCircuitIndex(), ['circ-a', 'circ-b'], 'only circuits not closed are in the index');

    const dry = await operator('POST', '/v1/circuits/reset', { dryRun: true });
    assert.equal(dry.status, 200, dry.raw);
    assert.deepEqual(
      dry.body.found.map((f: { deviceId: string; state: string }) => [f.deviceId, f.state]),
      [
        ['circ-a', 'open'],
        ['circ-b', 'open'],
      ],
    );
    assert.deepEqual(dry.body.reset, []);

    const before = await tableDump();
    const refused = await operator('POST', '/v1/circuits/reset', {});
    assert.equal(refused.status, 400, refused.raw);
    assert.equal(refused.body.details.issues[0].path, 'confirm');
    const notTrue = await operator('POST', '/v1/circuits/reset', { confirm: 'yes' });
    assert.equal(notTrue.status, 400, notTrue.raw);
    assert.equal(await tableDump(), before, 'a refused reset writes nothing');

    const done = await operator('POST', '/v1/circuits/reset', { confirm: true });
    assert.equal(done.status, 200, done.raw);
    assert.deepEqual(done.body.reset, ['circ-a', 'circ-b']);
    assert.equal(done.body.more, false);
    assert.equal((await readCircuit('circ-a')).state, 'closed');
    assert.equal((await readCircuit('circ-b')).state, 'closed');
    assert.deepEqual(await openCircuitIndex(), [], 'closed circuits leave the index');
    for (const d of ['circ-a', 'circ-b']) {
      const audits = (await eventsOf(fx.infra.env.EVENTS_TABLE!, d, 'operator.action')).filter(
        (e) => e.detail.action !== 'device.register',
      );
      assert.equal(audits.length, 1, d);
      assert.equal(audits[0]!.detail.action, 'circuit.reset');
      assert.equal(audits[0]!.detail.by, by);
      assert.equal(audits[0]!.correlationId, done.body.correlationId);
    }
    const untouched = await eventsOf(fx.infra.env.EVENTS_TABLE!, 'circ-c', 'operator.action');
    assert.deepEqual(
      untouched.map((e) => e.detail.action),
      ['device.register'],
    );
    const again = await operator('POST', '/v1/circuits/reset', { confirm: true });
    assert.deepEqual([again.body.found, again.body.reset], [[], []], 'nothing left to reset');
  });
});

describe('stuck jobs', () => {
  test('retry now: a stuck IN_PROGRESS job becomes a new attempt the dispatcher delivers; a late update of the old attempt is refused', async () => {
    const token = await registerDevice('stuck-1');
    const res = await enqueue('stuck-1', { type: 'restart-service', params: { service: 'web' } });
    const jobId = res.body.jobId as string;
    const first = await receive(fx.sqs, jobsQueue(), { waitSeconds: 1 });
    await deliver(fx.sqs, jobsQueue(), fx.dispatcher, first);
    const dispatched = (await getJob(jobId))!;
    const started = await device(token, 'PUT', `/v1/devices/stuck-1/jobs/${jobId}`, {
      status: 'IN_PROGRESS',
      expectedVersion: dispatched.version,
    });
    assert.equal(started.status, 200, started.raw);

    const retried = await operator('POST', `/v1/jobs/${jobId}/retry`);
    assert.equal(retried.status, 200, retried.raw);
    assert.equal(retried.body.status, 'QUEUED');
    assert.equal(retried.body.attempt, 2);
    const msgs = await receive(fx.sqs, jobsQueue(), { waitSeconds: 1 });
    assert.equal(msgs.length, 1, 'published at once');
    assert.equal(JSON.parse(msgs[0]!.Body!).attempt, 2);
    assert.equal((await deliver(fx.sqs, jobsQueue(), fx.dispatcher, msgs)).failed.size, 0);
    assert.equal((await getJob(jobId))?.pendingDeviceId, 'stuck-1', 'the new attempt is on the device’s list');

    const late = await device(token, 'PUT', `/v1/devices/stuck-1/jobs/${jobId}`, {
      status: 'SUCCEEDED',
      expectedVersion: started.body.version,
    });
    assert.equal(late.status, 409, 'the old attempt’s update is refused');
    const audits = await eventsOf(fx.infra.env.EVENTS_TABLE!, 'stuck-1', 'operator.action');
    assert.deepEqual(audits.map((a) => a.detail.action).sort(), ['device.register', 'job.enqueue', 'job.retry']);
  });

  test('dead-letter: the job waits in the DLQ with the reason, is redriven and delivered', async () => {
    await registerDevice('stuck-2');
    await fx.sqs.send(new PurgeQueueCommand({ QueueUrl: jobsQueue() }));
    const res = await enqueue('stuck-2', { type: 'run-health-check', params: {} });
    const jobId = res.body.jobId as string;
    await fx.sqs.send(new PurgeQueueCommand({ QueueUrl: jobsQueue() }));

    const bad = await operator('POST', `/v1/jobs/${jobId}/dead-letter`, { reason: '   ' });
    assert.equal(bad.status, 400, 'a blank reason is refused');
    const dl = await operator('POST', `/v1/jobs/${jobId}/dead-letter`, { reason: 'device being replaced' });
    assert.equal(dl.status, 200, dl.raw);
    assert.equal(dl.body.statusDetails.deadLettered.reason, 'device being replaced');
    const stored = (await getJob(jobId)) as unknown as Record<string, unknown>;
    assert.equal(stored.outboxShard, undefined, 'not in the outbox: the publisher must not send it');
    assert.equal(stored.publishState, 'dead-lettered');

    const list = await operator('GET', '/v1/dlq', undefined, { queue: 'jobs' });
    assert.equal(list.status, 200, list.raw);
    assert.ok(JSON.stringify(list.body).includes('device being replaced'), JSON.stringify(list.body));

    const redrive = await operator('POST', '/v1/dlq/redrive', { queue: 'jobs', filter: 'device being replaced' });
    assert.equal(redrive.body.redriven, 1, redrive.raw);
    assert.equal((await depth(fx.sqs, jobsDlq())).visible, 0);
    const back = await receive(fx.sqs, jobsQueue(), { waitSeconds: 1 });
    assert.equal(back.length, 1);
    assert.equal((await deliver(fx.sqs, jobsQueue(), fx.dispatcher, back)).failed.size, 0);
    assert.equal((await getJob(jobId))?.pendingDeviceId, 'stuck-2', 'redriven and delivered');
  });

  test('a finished job: retry and dead-letter answer 409 and write nothing; an unknown job 404', async () => {
    await registerDevice('stuck-3');
    const res = await enqueue('stuck-3', { type: 'run-health-check', params: {} });
    const jobId = res.body.jobId as string;
    assert.equal((await operator('POST', `/v1/jobs/${jobId}/cancel`)).status, 200);
    await fx.sqs.send(new PurgeQueueCommand({ QueueUrl: jobsQueue() }));
    const before = await tableDump();
    const retry = await operator('POST', `/v1/jobs/${jobId}/retry`);
    assert.equal(retry.status, 409, retry.raw);
    assert.equal(retry.body.error, 'invalid_transition');
    const dl = await operator('POST', `/v1/jobs/${jobId}/dead-letter`, { reason: 'x' });
    assert.equal(dl.status, 409, dl.raw);
    const missing = await operator('POST', '/v1/jobs/job_000000000000000000000000/retry');
    assert.equal(missing.status, 404, missing.raw);
    assert.equal(await tableDump(), before, 'nothing written');
    const q = await depth(fx.sqs, jobsQueue());
    assert.equal(q.visible + q.delayed, 0, 'nothing sent');
  });
});
