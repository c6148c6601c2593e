/**
 * POST /v1/devices/{id}/sync through the real device-api handler on moto: one round trip carries the report, its
 * ack, the pending jobs, the target when it changed and the next interval (short while there is work, then for a
 * bounded window after job activity). The previous protocol (POST /reports, GET /jobs/pending, GET /target with
 * If-None-Match, PUT /jobs/{id}) keeps working unchanged against the same API, on the same device.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Job } from '../../../functions/contract/jobs.js';
import { ReportAck } from '../../../functions/contract/report.js';
import { SyncResponse } from '../../../functions/contract/sync.js';
import { TargetStateDocument } from '../../../functions/contract/target-state.js';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
let markDispatched: typeof import('../../../functions/adapters/jobs-repo.js').markDispatched;
before(async () => {
  fx = await createApiFixture();
  ({ markDispatched } = await import('../../../functions/adapters/jobs-repo.js'));
});
after(() => fx.close());

const svc = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  image: `lab/${name}:1`,
  status: 'running',
  ...extra,
});
const report = (deviceId: string, seq: number, services: unknown[] = [svc('web')]) => ({
  deviceId,
  seq,
  kind: 'full',
  agentVersion: '2.0.0',
  uptimeSeconds: seq * 60,
  sentAt: new Date().toISOString(),
  services,
});
const target = { services: { web: { image: 'lab/web:2' } } };

async function enqueueDispatched(deviceId: string): Promise<Job> {
  const enq = await fx.operator({
    method: 'POST',
    path: `/v1/devices/${deviceId}/jobs`,
    body: { type: 'restart-service', params: { service: 'web' } },
  });
  assert.equal(enq.status, 202);
  const job = Job.parse(enq.body);
  await markDispatched(job.jobId);
  return job;
}

test('an idle sync: ack, no jobs, no target, the idle interval', async () => {
  const token = await fx.register('sync-idle');
  const res = await fx.device({
    method: 'POST',
    path: '/v1/devices/sync-idle/sync',
    token,
    body: { report: report('sync-idle', 1) },
  });
  assert.equal(res.status, 200, res.raw);
  const body = SyncResponse.parse(res.body);
  assert.equal(body.report.status, 'applied');
  assert.equal(body.report.lastSeq, 1);
  assert.deepEqual(body.jobs, []);
  assert.deepEqual(body.target, { etag: null, changed: false });
  assert.equal(body.nextSyncSeconds, 60);
});

test('the target comes with the sync when it changed, and only then', async () => {
  const token = await fx.register('sync-target');
  assert.equal(
    (await fx.operator({ method: 'PUT', path: '/v1/devices/sync-target/target', body: target })).status,
    200,
  );
  const first = SyncResponse.parse(
    (
      await fx.device({
        method: 'POST',
        path: '/v1/devices/sync-target/sync',
        token,
        body: { report: report('sync-target', 1) },
      })
    ).body,
  );
  assert.equal(first.target.changed, true);
  assert.equal(first.target.document?.target.services.web?.image, 'lab/web:2');
  assert.equal(first.target.etag, `"${first.target.document?.version}"`);
  const again = SyncResponse.parse(
    (
      await fx.device({
        method: 'POST',
        path: '/v1/devices/sync-target/sync',
        token,
        body: { report: report('sync-target', 2), targetEtag: first.target.etag! },
      })
    ).body,
  );
  assert.deepEqual(again.target, { etag: first.target.etag, changed: false });
});

test('pending work shortens the interval; finishing it keeps it short for the window', async () => {
  const token = await fx.register('sync-jobs');
  const job = await enqueueDispatched('sync-jobs');
  const sync = async (seq: number) =>
    SyncResponse.parse(
      (
        await fx.device({
          method: 'POST',
          path: '/v1/devices/sync-jobs/sync',
          token,
          body: { report: report('sync-jobs', seq) },
        })
      ).body,
    );
  const withJob = await sync(1);
  assert.deepEqual(
    withJob.jobs.map((j) => j.jobId),
    [job.jobId],
  );
  assert.equal(withJob.nextSyncSeconds, 2, 'pending work: the short interval');
  let version = withJob.jobs[0]!.version;
  for (const status of ['IN_PROGRESS', 'SUCCEEDED'] as const) {
    const upd = await fx.device({
      method: 'PUT',
      path: `/v1/devices/sync-jobs/jobs/${job.jobId}`,
      token,
      body: { status, expectedVersion: version },
    });
    assert.equal(upd.status, 200, upd.raw);
    version = Job.parse(upd.body).version;
  }
  const after = await sync(2);
  assert.deepEqual(after.jobs, []);
  assert.equal(after.nextSyncSeconds, 2, 'just finished a job: a follow-up is likely, stay short');
});

test('a stale or duplicate report in a sync is answered, not refused, and writes nothing; another device is 403', async () => {
  const token = await fx.register('sync-seq');
  assert.equal(
    (
      await fx.device({
        method: 'POST',
        path: '/v1/devices/sync-seq/sync',
        token,
        body: { report: report('sync-seq', 5) },
      })
    ).status,
    200,
  );
  const before = await fx.snapshot();
  const dup = SyncResponse.parse(
    (
      await fx.device({
        method: 'POST',
        path: '/v1/devices/sync-seq/sync',
        token,
        body: { report: report('sync-seq', 5) },
      })
    ).body,
  );
  assert.equal(dup.report.status, 'duplicate');
  const stale = SyncResponse.parse(
    (
      await fx.device({
        method: 'POST',
        path: '/v1/devices/sync-seq/sync',
        token,
        body: { report: report('sync-seq', 3) },
      })
    ).body,
  );
  assert.deepEqual([stale.report.status, stale.report.lastSeq], ['stale', 5]);
  const other = await fx.device({
    method: 'POST',
    path: '/v1/devices/sync-seq/sync',
    token,
    body: { report: report('sync-other', 6) },
  });
  assert.equal(other.status, 403);
  const bad = await fx.device({
    method: 'POST',
    path: '/v1/devices/sync-seq/sync',
    token,
    body: { report: report('sync-seq', 6), extra: 1 },
  });
  assert.equal(bad.status, 400);
  assert.equal(await fx.snapshot(), before, 'nothing written');
});

test('the previous protocol works unchanged against the new API, on a device that also syncs', async () => {
  const token = await fx.register('old-agent');
  assert.equal((await fx.operator({ method: 'PUT', path: '/v1/devices/old-agent/target', body: target })).status, 200);
  // What an agent of the previous release does, route by route.
  const posted = await fx.device({
    method: 'POST',
    path: '/v1/devices/old-agent/reports',
    token,
    body: report('old-agent', 1),
  });
  assert.equal(posted.status, 200);
  assert.equal(ReportAck.parse(posted.body).status, 'applied');
  const stale = await fx.device({
    method: 'POST',
    path: '/v1/devices/old-agent/reports',
    token,
    body: report('old-agent', 0),
  });
  assert.deepEqual([stale.status, stale.body.error, stale.body.details?.lastSeq], [409, 'stale_sequence', 1]);
  const got = await fx.device({ method: 'GET', path: '/v1/devices/old-agent/target', token });
  assert.equal(got.status, 200);
  const doc = TargetStateDocument.parse(got.body);
  assert.equal(got.headers.etag, `"${doc.version}"`);
  assert.equal(
    (
      await fx.device({
        method: 'GET',
        path: '/v1/devices/old-agent/target',
        token,
        headers: { 'if-none-match': got.headers.etag! },
      })
    ).status,
    304,
  );
  const job = await enqueueDispatched('old-agent');
  const pending = await fx.device({ method: 'GET', path: '/v1/devices/old-agent/jobs/pending', token });
  assert.deepEqual(
    pending.body.jobs.map((j: Job) => j.jobId),
    [job.jobId],
  );
  const upd = await fx.device({
    method: 'PUT',
    path: `/v1/devices/old-agent/jobs/${job.jobId}`,
    token,
    body: { status: 'IN_PROGRESS', expectedVersion: pending.body.jobs[0].version },
  });
  assert.equal(upd.status, 200);
  // The same device on the new protocol next (an agent upgraded in place): its sequence carries on.
  const synced = SyncResponse.parse(
    (
      await fx.device({
        method: 'POST',
        path: '/v1/devices/old-agent/sync',
        token,
        body: { report: report('old-agent', 2), targetEtag: got.headers.etag! },
      })
    ).body,
  );
  assert.equal(synced.report.status, 'applied');
  assert.equal(synced.target.changed, false);
  assert.deepEqual(
    synced.jobs.map((j) => j.jobId),
    [job.jobId],
  );
});
