/**
 * The DynamoDB/SQS adapters against moto_server through the real SDK: conditional writes, sparse GSIs,
 * the circuit breaker's concurrency guarantees, the outbox publish.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { createTestInfra, type TestInfra } from '../../support/infra.js';

// Concurrency is the subject here: the test emulator serialises DynamoDB requests, as DynamoDB makes them atomic.

let infra: TestInfra;
type Mods = {
  circuit: typeof import('../../../functions/services/circuit-breaker.js');
  jobs: typeof import('../../../functions/adapters/jobs-repo.js');
  queue: typeof import('../../../functions/services/job-publishing.js');
  events: typeof import('../../../functions/adapters/events.js');
  markers: typeof import('../../../functions/adapters/markers-repo.js');
  devices: typeof import('../../../functions/adapters/devices-repo.js');
  aws: typeof import('../../../functions/lib/aws.js');
  lifecycle: typeof import('../../../functions/domain/job-lifecycle.js');
};
let m: Mods;

before(async () => {
  infra = await createTestInfra({
    CIRCUIT_FAILURE_THRESHOLD: '5',
    CIRCUIT_COOLDOWN_SECONDS: '60',
    CIRCUIT_MAX_COOLDOWN_SECONDS: '600',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  m = {
    circuit: await import('../../../functions/services/circuit-breaker.js'),
    jobs: await import('../../../functions/adapters/jobs-repo.js'),
    queue: await import('../../../functions/services/job-publishing.js'),
    events: await import('../../../functions/adapters/events.js'),
    markers: await import('../../../functions/adapters/markers-repo.js'),
    devices: await import('../../../functions/adapters/devices-repo.js'),
    aws: await import('../../../functions/lib/aws.js'),
    lifecycle: await import('../../../functions/domain/job-lifecycle.js'),
  };
});
after(async () => {
  await infra.close();
});

const circuitItem = async (deviceId: string) =>
  (
    await m.aws.documentClient().send(
      new GetCommand({
        TableName: infra.env.FLEET_TABLE,
        Key: { pk: `DEVICE#${deviceId}`, sk: 'CIRCUIT' },
        ConsistentRead: true,
      }),
    )
  ).Item;
const eventsOf = async (deviceId: string) =>
  (
    await m.aws.documentClient().send(
      new QueryCommand({
        TableName: infra.env.EVENTS_TABLE,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `DEVICE#${deviceId}` },
      }),
    )
  ).Items ?? [];

describe('circuit-repo', () => {
  test('a closed circuit is read, never written, on admission and on success', async () => {
    const a = await m.circuit.admitCommand('dev-healthy', 'job_a');
    assert.equal(a.admitted, true);
    await m.circuit.recordSuccess('dev-healthy');
    assert.equal(await circuitItem('dev-healthy'), undefined);
  });

  test('50 parallel failures: exactly one closed→open transition and an exact failure count', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => m.circuit.recordFailure('dev-storm', { source: `job_${i}` })),
    );
    const opens = results.filter((r) => r.before.state === 'closed' && r.after.state === 'open');
    assert.equal(opens.length, 1);
    const item = await circuitItem('dev-storm');
    assert.equal(item?.state, 'open');
    assert.equal(item?.consecutiveFailures, 50);
    assert.equal(item?.openCount, 1);
    const opened = (await eventsOf('dev-storm')).filter((e) => e.type === 'circuit.opened');
    assert.equal(opened.length, 1);
  });

  test('half-open admits exactly one probe among concurrent commands', async () => {
    for (let i = 0; i < 5; i++) await m.circuit.recordFailure('dev-probe');
    const item = await circuitItem('dev-probe');
    const later = Number(item!.retryAtEpoch) + 1;
    const admissions = await Promise.all(
      Array.from({ length: 10 }, (_, i) => m.circuit.admitCommand('dev-probe', `job_p${i}`, { now: later })),
    );
    assert.equal(admissions.filter((a) => a.admitted).length, 1);
    const refused = admissions.filter((a) => !a.admitted);
    assert.equal(refused.length, 9);
    const probe = admissions.find((a) => a.admitted)!;
    assert.equal(probe.record.state, 'half-open');
  });
});

describe('jobs-repo and job-queue', () => {
  test('create → publish → dispatch → in progress → terminal keeps the sparse keys right', async () => {
    const job = m.lifecycle.newJob({
      jobId: 'job_ABCDEFGHIJKL',
      deviceId: 'dev-jobs',
      type: 'restart-service',
      params: { service: 'web' },
      correlationId: 'corr-1',
      by: 'operator:test',
      now: Date.now(),
    });
    const rec = await m.jobs.createJob(job);
    assert.equal(rec.publishState, 'unpublished');
    assert.ok(rec.outboxShard);
    await assert.rejects(m.jobs.createJob(job), m.jobs.JobExistsError);
    await m.queue.publishJob(job);
    const published = await m.jobs.getJob(job.jobId);
    assert.equal(published?.publishState, 'published');
    assert.equal(published?.outboxShard, undefined);
    assert.equal(await m.jobs.markPublished(job.jobId), false);
    const msgs = await m.aws.sqsClient().send(
      new ReceiveMessageCommand({
        QueueUrl: infra.env.JOBS_QUEUE_URL,
        MessageAttributeNames: ['All'],
        WaitTimeSeconds: 1,
      }),
    );
    const body = JSON.parse(msgs.Messages![0]!.Body!);
    assert.deepEqual(body, {
      jobId: job.jobId,
      deviceId: 'dev-jobs',
      type: 'restart-service',
      correlationId: 'corr-1',
      attempt: 1,
    });
    assert.equal(msgs.Messages![0]!.MessageAttributes?.correlationId?.StringValue, 'corr-1');

    const dispatched = await m.jobs.markDispatched(job.jobId);
    assert.equal(dispatched?.pendingDeviceId, 'dev-jobs');
    const pending = await m.jobs.listPendingForDevice('dev-jobs');
    assert.deepEqual(
      pending.map((j) => j.jobId),
      [job.jobId],
    );

    const t1 = m.lifecycle.transition(job, { to: 'IN_PROGRESS', by: 'dev-jobs', now: Date.now() });
    assert.ok(t1.ok);
    assert.equal(await m.jobs.transitionJob(job, t1.job), true);
    assert.equal(await m.jobs.transitionJob(job, t1.job), false, 'a stale version never wins');
    const inProgress = await m.jobs.getJob(job.jobId);
    assert.ok(inProgress?.timeoutShard);
    assert.ok(Number(inProgress?.timeoutAtEpoch) > Date.now());

    const t2 = m.lifecycle.transition(t1.job, { to: 'SUCCEEDED', by: 'dev-jobs', now: Date.now() });
    assert.ok(t2.ok);
    assert.equal(await m.jobs.transitionJob(t1.job, t2.job), true);
    const done = await m.jobs.getJob(job.jobId);
    assert.equal(done?.status, 'SUCCEEDED');
    assert.equal(done?.pendingDeviceId, undefined);
    assert.equal(done?.timeoutShard, undefined);
    assert.ok(done?.expiresAt);
    assert.equal(await m.jobs.markDispatched(job.jobId), undefined, 'terminal jobs are not re-listed');
  });
});

describe('events and markers', () => {
  test('recent events newest first, by device and fleet-wide, filtered by type', async () => {
    const now = Date.now();
    await m.events.recordEvent(
      { type: 'command.failed', deviceId: 'dev-ev', correlationId: 'c1', detail: { n: 1 } },
      now - 2000,
    );
    await m.events.recordEvent({ type: 'device.offline', deviceId: 'dev-ev' }, now - 1000);
    await m.events.recordEvent({ type: 'command.failed', deviceId: 'dev-ev2' }, now);
    const mine = await m.events.recentEvents({ deviceId: 'dev-ev', limit: 10 });
    assert.deepEqual(
      mine.map((e) => e.type),
      ['device.offline', 'command.failed'],
    );
    assert.equal(mine[1]!.correlationId, 'c1');
    const failed = await m.events.recentEvents({ type: 'command.failed', limit: 10 });
    assert.ok(failed.length >= 2);
    assert.ok(failed.every((e) => e.type === 'command.failed'));
    assert.ok(Date.parse(failed[0]!.at) >= Date.parse(failed[1]!.at));
  });

  test('markers expire and delete', async () => {
    const now = Date.now();
    await m.markers.putMarker({ deviceId: 'dev-mk', kind: 'maintenance', durationSeconds: 600, createdBy: 'op', now });
    await m.markers.putMarker({
      deviceId: 'dev-mk',
      service: 'web',
      kind: 'manual-stop',
      durationSeconds: 60,
      createdBy: 'op',
      now: now - 120_000,
    });
    const active = await m.markers.activeMarkers('dev-mk', now);
    assert.deepEqual(
      active.map((x) => x.service),
      [undefined],
    );
    assert.equal(await m.markers.deleteMarker('dev-mk'), true);
    assert.equal(await m.markers.deleteMarker('dev-mk'), false);
  });
});
