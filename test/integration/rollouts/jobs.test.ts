/**
 * A rollout of a job on moto: each device of a stage gets the job enqueued through the outbox (the real job
 * store), succeeds when its job SUCCEEDED (the device reports it through the real device API), fails when it
 * ended otherwise (REJECTED here; a FAILED attempt is retried by the job's policy before it counts); an abort stops new devices and leaves the jobs already enqueued. A job cannot be rolled back, and a target
 * change is rolled out as a target: both refused, writing nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { getJob } from '../../../functions/adapters/jobs-repo.js';
import { deviceRecords, getRollout } from '../../../functions/adapters/rollouts-repo.js';
import { advanceRollout, createRollout, type CreateRolloutInput } from '../../../functions/services/rollouts.js';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
const tokens = new Map<string, string>();

before(async () => {
  fx = await createApiFixture();
});
after(() => fx.close());

async function register(deviceId: string, group: string) {
  const res = await fx.operator<{ token: string }>({
    method: 'POST',
    path: '/v1/devices',
    body: { deviceId, labels: { group } },
  });
  assert.equal(res.status, 201, res.raw);
  tokens.set(deviceId, res.body.token);
}

/** The device runs its job and reports the outcome, as its agent does. */
async function finishJob(deviceId: string, jobId: string, status: 'SUCCEEDED' | 'REJECTED') {
  const put = (body: unknown) =>
    fx.device({ method: 'PUT', path: `/v1/devices/${deviceId}/jobs/${jobId}`, token: tokens.get(deviceId)!, body });
  // A rejection is final (no retry); a FAILED attempt would be retried by the job's policy first.
  if (status === 'REJECTED') {
    const rejected = await put({ status, expectedVersion: 1 });
    assert.equal(rejected.status, 200, rejected.raw);
    return;
  }
  const started = await put({ status: 'IN_PROGRESS', expectedVersion: 1 });
  assert.equal(started.status, 200, started.raw);
  const done = await put({ status, expectedVersion: started.body.version });
  assert.equal(done.status, 200, done.raw);
}

const restart: CreateRolloutInput['job'] = { type: 'restart-service', params: { service: 'web', reason: 'rollout' } };

function spec(group: string, over: Partial<CreateRolloutInput> = {}): CreateRolloutInput {
  return {
    selector: { group },
    job: restart,
    canary: { count: 1 },
    waves: { perMinute: 2, factor: 1 },
    abortCriteria: { failureCount: 1, minFinished: 1 },
    onAbort: 'leave',
    ...over,
  };
}

const S = 1000;
const MIN = 60 * S;

describe('a job rollout', () => {
  test('each device gets the job; SUCCEEDED counts, the next stage follows; a REJECTED job aborts', async () => {
    for (const id of ['j1', 'j2', 'j3', 'j4', 'j5']) await register(id, 'jobs');
    const t0 = Date.now();
    const res = await createRollout(spec('jobs'), 'test', t0);
    assert.equal(res.kind, 'created', JSON.stringify(res));
    const r = res.kind === 'created' ? res.rollout : assert.fail();
    assert.equal(r.target, undefined);

    assert.deepEqual(await advanceRollout(r.rolloutId, 'c1', t0), {
      kind: 'stage-started',
      stage: 'canary',
      moved: 1,
      skipped: 0,
      interrupted: false,
    });
    const [canary] = await deviceRecords(r.rolloutId, 0, 1);
    const job = await getJob(canary!.jobId!);
    assert.equal(job?.deviceId, 'j1');
    assert.equal(job?.type, 'restart-service');
    assert.deepEqual(job?.params, restart!.params);
    assert.equal(job?.status, 'QUEUED');
    assert.equal(job?.publishState, 'published', 'through the outbox onto the jobs queue');
    // A re-run of a move finds the job there: never enqueued twice.
    assert.deepEqual(await advanceRollout(r.rolloutId, 'c1', t0 + 5 * S), {
      kind: 'waiting',
      reason: 'canary in progress',
    });

    await finishJob('j1', canary!.jobId!, 'SUCCEEDED');
    const wave = await advanceRollout(r.rolloutId, 'c1', t0 + MIN);
    assert.equal(wave.kind === 'stage-started' && wave.stage, 'wave 1');
    const moved = await deviceRecords(r.rolloutId, 1, 3);
    assert.deepEqual(
      moved.map((d) => d.deviceId),
      ['j2', 'j3'],
    );
    await finishJob('j2', moved[0]!.jobId!, 'REJECTED');
    const out = await advanceRollout(r.rolloutId, 'c1', t0 + 2 * MIN);
    assert.equal(
      out.kind === 'aborted' && out.abort.criterion,
      'failureCount',
      JSON.stringify([out, await getJob(moved[0]!.jobId!)]),
    );
    const end = (await getRollout(r.rolloutId))!;
    assert.equal(end.status, 'aborted');
    assert.deepEqual(end.abort?.failures?.[0], {
      cause: 'job-rejected',
      count: 1,
      sample: [{ deviceId: 'j2', detail: 'its job was REJECTED' }],
    });
    assert.equal(end.stages[0]!.counts.succeeded, 1);
    assert.equal((await getJob(moved[1]!.jobId!))?.status, 'QUEUED', 'left as it is');
    assert.equal((await deviceRecords(r.rolloutId, 3, 5)).length, 0, 'j4 and j5 never got the job');
  });

  test('a job with rollback, a target change as a job, or both a target and a job: refused, nothing written', async () => {
    await register('jr1', 'jobs-refused');
    const before = await fx.snapshot();
    const rollback = await createRollout(spec('jobs-refused', { onAbort: 'rollback' }), 'test', Date.now());
    assert.equal(rollback.kind === 'invalid' && rollback.issues[0]?.code, 'not_reversible');
    const asJob = await createRollout(
      spec('jobs-refused', { job: { type: 'set-target-state', params: {} } }),
      'test',
      Date.now(),
    );
    assert.equal(asJob.kind === 'invalid' && asJob.issues[0]?.code, 'use_target');
    const neither = await createRollout(spec('jobs-refused', { job: undefined }), 'test', Date.now());
    assert.equal(neither.kind === 'invalid' && neither.issues[0]?.code, 'target_or_job');
    assert.equal(await fx.snapshot(), before);
  });
});
