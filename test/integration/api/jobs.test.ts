/**
 * Jobs through the real handlers on moto: enqueue (outbox + SQS), pending poll, execution updates with
 * optimistic concurrency, terminal finality, FAILED → command.failed + circuit count, cancel; target ETag/304.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Job } from '../../../functions/contract/jobs.js';
import { TargetStateDocument } from '../../../functions/contract/target-state.js';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
let markDispatched: typeof import('../../../functions/adapters/jobs-repo.js').markDispatched;
before(async () => {
  fx = await createApiFixture({ CIRCUIT_FAILURE_THRESHOLD: '5' });
  ({ markDispatched } = await import('../../../functions/adapters/jobs-repo.js'));
});
after(() => fx.close());

const jobItem = async (jobId: string) =>
  (await fx.doc.send(new GetCommand({ TableName: fx.infra.env.JOBS_TABLE, Key: { jobId }, ConsistentRead: true })))
    .Item;
const circuitItem = async (deviceId: string) =>
  (
    await fx.doc.send(
      new GetCommand({
        TableName: fx.infra.env.FLEET_TABLE,
        Key: { pk: `DEVICE#${deviceId}`, sk: 'CIRCUIT' },
        ConsistentRead: true,
      }),
    )
  ).Item;
const deviceEvents = async (deviceId: string) =>
  ((
    await fx.doc.send(
      new QueryCommand({
        TableName: fx.infra.env.EVENTS_TABLE,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `DEVICE#${deviceId}` },
      }),
    )
  ).Items ?? []) as { type: string; correlationId?: string; detail: Record<string, unknown> }[];

test('enqueue: unknown device is 404 and writes nothing', async () => {
  const before = await fx.snapshot();
  const res = await fx.operator({
    method: 'POST',
    path: '/v1/devices/dev-ghost/jobs',
    body: { type: 'restart-service', params: { service: 'web' } },
  });
  assert.equal(res.status, 404);
  assert.equal(res.body.error, 'not_found');
  assert.equal(await fx.snapshot(), before);
});

test('enqueue → queue message with correlation id → poll → IN_PROGRESS → SUCCEEDED, with version checks', async () => {
  const token = await fx.register('dev-jobs');
  const enq = await fx.operator({
    method: 'POST',
    path: '/v1/devices/dev-jobs/jobs',
    headers: { 'x-correlation-id': 'corr-jobs-1' },
    body: { type: 'restart-service', params: { service: 'web', reason: 'test' } },
  });
  assert.equal(enq.status, 202);
  const job = Job.parse(enq.body);
  assert.equal(job.status, 'QUEUED');
  assert.equal(job.version, 1);
  assert.equal(job.correlationId, 'corr-jobs-1');
  assert.equal(enq.headers.location, `/v1/jobs/${job.jobId}`);

  const stored = await jobItem(job.jobId);
  assert.equal(stored?.publishState, 'published', 'published to SQS at once');
  assert.equal(stored?.outboxShard, undefined);
  const sqs = new SQSClient({});
  const msgs = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: fx.infra.env.JOBS_QUEUE_URL,
      MessageAttributeNames: ['All'],
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
    }),
  );
  const msg = msgs.Messages?.find((m) => JSON.parse(m.Body!).jobId === job.jobId);
  assert.ok(msg);
  assert.equal(msg.MessageAttributes?.correlationId?.StringValue, 'corr-jobs-1');
  sqs.destroy();

  // Not listed for the device until the dispatcher delivers it.
  const none = await fx.device({ method: 'GET', path: '/v1/devices/dev-jobs/jobs/pending', token });
  assert.deepEqual(none.body.jobs, []);
  await markDispatched(job.jobId);
  const pending = await fx.device({ method: 'GET', path: '/v1/devices/dev-jobs/jobs/pending', token });
  assert.deepEqual(
    pending.body.jobs.map((j: { jobId: string }) => j.jobId),
    [job.jobId],
  );
  assert.equal(pending.body.jobs[0].publishState, undefined, 'bookkeeping attributes stay internal');

  const put = (body: unknown) =>
    fx.device({ method: 'PUT', path: `/v1/devices/dev-jobs/jobs/${job.jobId}`, token, body });
  const started = await put({ status: 'IN_PROGRESS', expectedVersion: 1, statusDetails: { step: 'stopping' } });
  assert.equal(started.status, 200);
  assert.equal(started.body.version, 2);
  assert.ok((await jobItem(job.jobId))?.timeoutShard, 'IN_PROGRESS is watched by the timeout sweeper');

  // Stale version: 409 with the current version, nothing written.
  const before = await fx.snapshot();
  const stale = await put({ status: 'SUCCEEDED', expectedVersion: 1 });
  assert.equal(stale.status, 409);
  assert.equal(stale.body.error, 'version_conflict');
  assert.equal(stale.body.details.currentVersion, 2);
  assert.equal(await fx.snapshot(), before);

  // A replay of the update that produced version 2 (lost response) is answered 200, still without a write.
  const replay = await put({ status: 'IN_PROGRESS', expectedVersion: 1, statusDetails: { step: 'stopping' } });
  assert.equal(replay.status, 200);
  assert.equal(replay.body.version, 2);
  assert.equal(await fx.snapshot(), before);

  // The device claims the job again (its first claim timed out on its side, the job came back in its next poll):
  // the job as it is, no new version, no second IN_PROGRESS in the history, nothing written.
  const claimAgain = await put({ status: 'IN_PROGRESS', expectedVersion: 2 });
  assert.equal(claimAgain.status, 200);
  assert.equal(claimAgain.body.version, 2);
  assert.equal(await fx.snapshot(), before);

  const done = await put({ status: 'SUCCEEDED', expectedVersion: 2 });
  assert.equal(done.status, 200);
  assert.equal(done.body.status, 'SUCCEEDED');
  assert.deepEqual(
    done.body.history.map((h: { status: string }) => h.status),
    ['QUEUED', 'IN_PROGRESS', 'SUCCEEDED'],
  );
  const item = await jobItem(job.jobId);
  assert.equal(item?.pendingDeviceId, undefined);
  assert.equal(item?.timeoutShard, undefined);
  assert.ok(item?.expiresAt);
  assert.equal(await circuitItem('dev-jobs'), undefined, 'a success on a healthy device writes no circuit item');

  // Terminal states are final.
  const snap = await fx.snapshot();
  const again = await put({ status: 'FAILED', expectedVersion: 3 });
  assert.equal(again.status, 409);
  assert.equal(again.body.error, 'invalid_transition');
  assert.equal(await fx.snapshot(), snap);
  const cancel = await fx.operator({ method: 'POST', path: `/v1/jobs/${job.jobId}/cancel` });
  assert.equal(cancel.status, 409);
  assert.equal(cancel.body.error, 'invalid_transition');

  const got = await fx.operator({ method: 'GET', path: `/v1/jobs/${job.jobId}` });
  assert.equal(got.status, 200);
  assert.equal(Job.parse(got.body).version, 3);
  assert.equal((await fx.operator({ method: 'GET', path: '/v1/jobs/job_NOSUCHJOB0000' })).status, 404);
});

test('FAILED records command.failed with the correlation id, counts a circuit failure once, and applies the retry policy', async () => {
  const token = await fx.register('dev-fail');
  const enq = await fx.operator({
    method: 'POST',
    path: '/v1/devices/dev-fail/jobs',
    headers: { 'x-correlation-id': 'corr-fail' },
    body: { type: 'restart-service', params: { service: 'db' } },
  });
  const jobId = enq.body.jobId as string;
  await markDispatched(jobId);
  const failed = await fx.device({
    method: 'PUT',
    path: `/v1/devices/dev-fail/jobs/${jobId}`,
    token,
    body: { status: 'FAILED', expectedVersion: 1, statusDetails: { error: 'container exited 1' } },
  });
  assert.equal(failed.status, 200);
  // restart-service retries: the failed attempt is kept in history and attempt 2 is queued again via the outbox.
  assert.equal(failed.body.status, 'QUEUED');
  assert.equal(failed.body.attempt, 2);
  assert.deepEqual(
    failed.body.history.map((h: { status: string }) => h.status),
    ['QUEUED', 'FAILED', 'QUEUED'],
  );
  // Off the device's pending list until the retry is dispatched; published again (with its retry delay).
  const item = await jobItem(jobId);
  assert.equal(item?.pendingDeviceId, undefined);
  assert.equal(item?.timeoutShard, undefined);
  assert.ok(item?.publishState === 'published' || item?.outboxShard, 'the retry is on the queue or in the outbox');

  const events = (await deviceEvents('dev-fail')).filter((e) => e.type === 'command.failed');
  assert.equal(events.length, 1);
  assert.equal(events[0]!.correlationId, 'corr-fail');
  assert.equal(events[0]!.detail.jobId, jobId);
  assert.equal((await circuitItem('dev-fail'))?.consecutiveFailures, 1);

  // The device did not get the answer and sends the same update again: same answer, counted once.
  const replay = await fx.device({
    method: 'PUT',
    path: `/v1/devices/dev-fail/jobs/${jobId}`,
    token,
    body: { status: 'FAILED', expectedVersion: 1, statusDetails: { error: 'container exited 1' } },
  });
  assert.equal(replay.status, 200);
  assert.equal((await circuitItem('dev-fail'))?.consecutiveFailures, 1);

  const recent = await fx.operator({ method: 'GET', path: '/v1/events/recent', query: { type: 'command.failed' } });
  assert.equal(recent.status, 200);
  assert.ok(recent.body.events.some((e: { deviceId: string }) => e.deviceId === 'dev-fail'));

  // A success afterwards resets the consecutive-failure count.
  const run = await fx.operator({
    method: 'POST',
    path: '/v1/devices/dev-fail/jobs',
    body: { type: 'run-health-check', params: {} },
  });
  await markDispatched(run.body.jobId);
  const ok = await fx.device({
    method: 'PUT',
    path: `/v1/devices/dev-fail/jobs/${run.body.jobId}`,
    token,
    body: { status: 'SUCCEEDED', expectedVersion: 1 },
  });
  assert.equal(ok.status, 200);
  assert.equal((await circuitItem('dev-fail'))?.consecutiveFailures, 0);
});

test('a job of another device is forbidden; a missing job is 404', async () => {
  const a = await fx.register('dev-ja');
  await fx.register('dev-jb');
  const enq = await fx.operator({
    method: 'POST',
    path: '/v1/devices/dev-jb/jobs',
    body: { type: 'pull-image', params: { image: 'lab/busybox:1' } },
  });
  const before = await fx.snapshot();
  const res = await fx.device({
    method: 'PUT',
    path: `/v1/devices/dev-ja/jobs/${enq.body.jobId}`,
    token: a,
    body: { status: 'IN_PROGRESS', expectedVersion: 1 },
  });
  assert.equal(res.status, 403);
  const missing = await fx.device({
    method: 'PUT',
    path: '/v1/devices/dev-ja/jobs/job_DOESNOTEXIST00',
    token: a,
    body: { status: 'IN_PROGRESS', expectedVersion: 1 },
  });
  assert.equal(missing.status, 404);
  assert.equal(await fx.snapshot(), before);
});

test('cancel moves a live job to CANCELED and takes it off the pending list', async () => {
  const token = await fx.register('dev-cancel');
  const enq = await fx.operator({
    method: 'POST',
    path: '/v1/devices/dev-cancel/jobs',
    body: { type: 'run-health-check', params: { service: 'web' } },
  });
  await markDispatched(enq.body.jobId);
  const res = await fx.operator({ method: 'POST', path: `/v1/jobs/${enq.body.jobId}/cancel` });
  assert.equal(res.status, 200);
  assert.equal(res.body.status, 'CANCELED');
  assert.match(res.body.history.at(-1).by, /^operator:/);
  const pending = await fx.device({ method: 'GET', path: '/v1/devices/dev-cancel/jobs/pending', token });
  assert.deepEqual(pending.body.jobs, []);
});

test('target state: PUT stores it with a content version; GET answers 304 for the current ETag', async () => {
  const token = await fx.register('dev-target');
  const none = await fx.device({ method: 'GET', path: '/v1/devices/dev-target/target', token });
  assert.equal(none.status, 404);

  const target = {
    services: { web: { image: 'lab/busybox:1', command: ['httpd', '-f'], healthCheck: { kind: 'http', port: 80 } } },
  };
  const put = await fx.operator({ method: 'PUT', path: '/v1/devices/dev-target/target', body: target });
  assert.equal(put.status, 200);
  const doc = TargetStateDocument.parse(put.body);
  assert.equal(doc.target.services.web!.restartPolicy, 'no', 'defaults applied and stored');

  const got = await fx.device({ method: 'GET', path: '/v1/devices/dev-target/target', token });
  assert.equal(got.status, 200);
  assert.equal(got.headers.etag, `"${doc.version}"`);
  assert.deepEqual(got.body, put.body);

  const cached = await fx.device({
    method: 'GET',
    path: '/v1/devices/dev-target/target',
    token,
    headers: { 'if-none-match': got.headers.etag! },
  });
  assert.equal(cached.status, 304);
  assert.equal(cached.raw, undefined);
  assert.equal(cached.headers.etag, got.headers.etag);
  const weak = await fx.device({
    method: 'GET',
    path: '/v1/devices/dev-target/target',
    token,
    headers: { 'if-none-match': `"other", W/${got.headers.etag}` },
  });
  assert.equal(weak.status, 304);

  // Same content again: same version (no churn). New content: new version, old ETag now gets 200.
  const same = await fx.operator({ method: 'PUT', path: '/v1/devices/dev-target/target', body: target });
  assert.equal(same.body.version, doc.version);
  const changed = await fx.operator({
    method: 'PUT',
    path: '/v1/devices/dev-target/target',
    body: { services: { web: { image: 'lab/busybox:2' } } },
  });
  assert.notEqual(changed.body.version, doc.version);
  const fresh = await fx.device({
    method: 'GET',
    path: '/v1/devices/dev-target/target',
    token,
    headers: { 'if-none-match': got.headers.etag! },
  });
  assert.equal(fresh.status, 200);
  assert.equal(fresh.body.version, changed.body.version);

  // set-target-state as a command stores the target too, so the next poll agrees with it.
  const cmd = await fx.operator({
    method: 'POST',
    path: '/v1/devices/dev-target/jobs',
    body: { type: 'set-target-state', params: { target: { services: { api: { image: 'lab/busybox:2' } } } } },
  });
  assert.equal(cmd.status, 202);
  const after = await fx.device({ method: 'GET', path: '/v1/devices/dev-target/target', token });
  assert.deepEqual(Object.keys(after.body.target.services), ['api']);
});

test('markers: set, shown on the device, deleted; device list shows silencedUntil', async () => {
  await fx.register('dev-mark');
  const set = await fx.operator({
    method: 'POST',
    path: '/v1/devices/dev-mark/markers',
    body: { kind: 'maintenance', reason: 'swap disk', durationSeconds: 3600 },
  });
  assert.equal(set.status, 201);
  assert.equal(set.body.kind, 'maintenance');
  const svc = await fx.operator({
    method: 'POST',
    path: '/v1/devices/dev-mark/markers',
    body: { service: 'web', kind: 'manual-stop', durationSeconds: 600 },
  });
  assert.equal(svc.status, 201);
  const detail = await fx.operator({ method: 'GET', path: '/v1/devices/dev-mark' });
  assert.equal(detail.body.markers.length, 2);
  assert.equal(detail.body.silencedUntil, set.body.expiresAt);
  const list = await fx.operator({ method: 'GET', path: '/v1/devices', query: { limit: '500' } });
  assert.equal(
    list.body.devices.find((d: { deviceId: string }) => d.deviceId === 'dev-mark').silencedUntil,
    set.body.expiresAt,
  );
  assert.equal(
    (await fx.operator({ method: 'DELETE', path: '/v1/devices/dev-mark/markers', query: { service: 'web' } })).status,
    204,
  );
  assert.equal(
    (await fx.operator({ method: 'DELETE', path: '/v1/devices/dev-mark/markers', query: { service: 'web' } })).status,
    404,
  );
  assert.equal(
    (await fx.operator({ method: 'POST', path: '/v1/devices/dev-nomark/markers', body: { durationSeconds: 600 } }))
      .status,
    404,
  );
});

test('device list pages with nextToken and rejects forged tokens', async () => {
  for (const id of ['dev-p1', 'dev-p2', 'dev-p3']) await fx.register(id);
  const seen = new Set<string>();
  let nextToken: string | undefined;
  let pages = 0;
  do {
    const res = await fx.operator({
      method: 'GET',
      path: '/v1/devices',
      query: { limit: '2', ...(nextToken ? { nextToken } : {}) },
    });
    assert.equal(res.status, 200);
    for (const d of res.body.devices) seen.add(d.deviceId);
    nextToken = res.body.nextToken;
    pages++;
  } while (nextToken && pages < 50);
  for (const id of ['dev-p1', 'dev-p2', 'dev-p3']) assert.ok(seen.has(id));
  const forged = await fx.operator({
    method: 'GET',
    path: '/v1/devices',
    query: { nextToken: Buffer.from(JSON.stringify({ pk: 'x' })).toString('base64url') },
  });
  assert.equal(forged.status, 400);
  assert.equal(forged.body.error, 'validation_failed');
});
