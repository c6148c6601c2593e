/**
 * The operator's rollout routes through the real operator-api handler on moto: create by selector and by list,
 * list, status with per-stage counts and how close the abort criteria are, pause / resume / abort with each
 * action's audit event (operator, time, correlation id), out-of-order actions answered 409 with nothing written,
 * creations the service refuses (nothing matches, unknown device) answered 400 with nothing written, and a job
 * rollout (accepted, its job enqueued by the controller; refused precisely when it cannot be rolled out).
 * Progress past creation is the controller's (test/integration/rollouts/controller.test.ts); here one controller
 * step shows the status route reporting a started canary.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { RolloutList, RolloutView } from '../../../functions/contract/rollouts.js';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
let advanceActiveRollouts: typeof import('../../../functions/services/rollouts.js').advanceActiveRollouts;

before(async () => {
  fx = await createApiFixture();
  ({ advanceActiveRollouts } = await import('../../../functions/services/rollouts.js'));
  for (const [id, labels] of [
    ['p1', { site: 'north', role: 'pump' }],
    ['p2', { site: 'north', role: 'pump' }],
    ['p3', { site: 'north', role: 'pump' }],
    ['v1', { site: 'north', role: 'valve' }],
    ['s1', { site: 'south', role: 'pump' }],
  ] as const) {
    const res = await fx.operator({ method: 'POST', path: '/v1/devices', body: { deviceId: id, labels } });
    assert.equal(res.status, 201, res.raw);
    const put = await fx.operator({
      method: 'PUT',
      path: `/v1/devices/${id}/target`,
      body: { services: { web: { image: 'lab/web:1' } } },
    });
    assert.equal(put.status, 200, put.raw);
  }
});
after(() => fx.close());

const body = (over: Record<string, unknown>) => ({
  selector: { site: 'north', role: 'pump' },
  target: { services: { web: { image: 'lab/web:2' } }, rollbackWindowSeconds: 10 },
  canary: { count: 1 },
  waves: { perMinute: 2, factor: 2 },
  abortCriteria: { failurePercent: 50, failureCount: 2, minFinished: 2 },
  ...over,
});

async function create(over: Record<string, unknown> = {}, correlationId?: string) {
  const res = await fx.operator({
    method: 'POST',
    path: '/v1/rollouts',
    body: body(over),
    ...(correlationId ? { headers: { 'x-correlation-id': correlationId } } : {}),
  });
  assert.equal(res.status, 201, res.raw);
  return RolloutView.parse(res.body);
}

const act = (id: string, action: 'pause' | 'resume' | 'abort', correlationId: string) =>
  fx.operator({
    method: 'POST',
    path: `/v1/rollouts/${id}/${action}`,
    headers: { 'x-correlation-id': correlationId },
    ...(action === 'abort' ? { body: { reason: 'wrong image' } } : {}),
  });

async function fleetEvents(type: string) {
  const res = await fx.doc.send(
    new QueryCommand({
      TableName: fx.infra.env.EVENTS_TABLE,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'FLEET' },
      ConsistentRead: true,
    }),
  );
  return (res.Items ?? []).filter((e) => e.type === type);
}

describe('creating and reading rollouts', () => {
  test('a selector is resolved to a frozen, planned set; status and list show it', async () => {
    const r = await create({}, 'corr-create-1');
    assert.equal(r.status, 'active');
    assert.equal(r.deviceCount, 3, 'p1..p3: the valve and the south pump do not match');
    assert.deepEqual(r.selector, { site: 'north', role: 'pump' });
    assert.equal(r.createdBy, 'operator:operator');
    assert.deepEqual(
      r.stages.map((s) => [s.name, s.devices, s.counts.pending]),
      [
        ['canary', 1, 1],
        ['wave 1', 2, 2],
      ],
    );
    assert.deepEqual(r.totals, { pending: 3, inProgress: 0, succeeded: 0, failed: 0, skipped: 0 });
    assert.deepEqual(r.criteria, {
      failurePercent: { value: 0, limit: 50, judged: false },
      failureCount: { value: 0, limit: 2 },
    });
    const created = (await fleetEvents('rollout.created')).find((e) => e.detail.rolloutId === r.rolloutId);
    assert.equal(created?.correlationId, 'corr-create-1');
    assert.equal(created?.detail.by, 'operator:operator');

    const got = await fx.operator({ method: 'GET', path: `/v1/rollouts/${r.rolloutId}` });
    assert.equal(got.status, 200, got.raw);
    assert.deepEqual(RolloutView.parse(got.body), r);

    // One controller run starts the canary; the counts are the controller's, stored by each run, so the next run
    // (nothing else due yet: a stage a minute) shows its device in progress.
    const t0 = Date.now();
    await advanceActiveRollouts(t0);
    await advanceActiveRollouts(t0 + 1000);
    const moving = RolloutView.parse((await fx.operator({ method: 'GET', path: `/v1/rollouts/${r.rolloutId}` })).body);
    assert.ok(moving.stages[0]!.startedAt, 'canary started');
    assert.deepEqual(moving.stages[0]!.counts, { pending: 0, inProgress: 1, succeeded: 0, failed: 0, skipped: 0 });
    assert.equal(moving.stages[1]!.startedAt, undefined);
    // Whatever else the test does next, this rollout must not move more devices: abort it (leaving moved ones).
    assert.equal((await act(r.rolloutId, 'abort', 'corr-cleanup')).status, 200);
  });

  test('an explicit list, a percentage canary, onAbort leave', async () => {
    const r = await create({
      selector: undefined,
      deviceIds: ['v1', 's1', 'p1'],
      canary: { percent: 50 },
      onAbort: 'leave',
      description: 'web 2 to three devices',
    });
    assert.equal(r.deviceCount, 3);
    assert.equal(r.onAbort, 'leave');
    assert.equal(r.description, 'web 2 to three devices');
    assert.equal(r.stages[0]!.devices, 2, '50% of 3, rounded up');
    assert.equal(r.selector, undefined);
  });

  test('list: newest first, paged', async () => {
    const first = await fx.operator({ method: 'GET', path: '/v1/rollouts', query: { limit: '1' } });
    assert.equal(first.status, 200, first.raw);
    const page1 = RolloutList.parse(first.body);
    assert.equal(page1.rollouts.length, 1);
    assert.ok(page1.nextToken);
    const second = await fx.operator({
      method: 'GET',
      path: '/v1/rollouts',
      query: { limit: '10', nextToken: page1.nextToken! },
    });
    const page2 = RolloutList.parse(second.body);
    const all = [...page1.rollouts, ...page2.rollouts];
    assert.ok(all.length >= 2);
    const created = all.map((x) => x.createdAt);
    assert.deepEqual(created, [...created].sort().reverse(), 'newest first');
    assert.equal(new Set(all.map((x) => x.rolloutId)).size, all.length, 'no rollout twice across pages');
  });

  test('a selection the service refuses: 400 naming the field, nothing written', async () => {
    const before = await fx.snapshot();
    const none = await fx.operator({
      method: 'POST',
      path: '/v1/rollouts',
      body: body({ selector: { site: 'east' } }),
    });
    assert.equal(none.status, 400, none.raw);
    assert.equal(none.body.error, 'validation_failed');
    assert.equal(none.body.details.issues[0].path, 'selector');
    assert.equal(none.body.details.issues[0].code, 'no_devices');
    const ghost = await fx.operator({
      method: 'POST',
      path: '/v1/rollouts',
      body: body({ selector: undefined, deviceIds: ['p1', 'ghost'] }),
    });
    assert.equal(ghost.status, 400, ghost.raw);
    assert.equal(ghost.body.details.issues[0].code, 'unknown_device');
    assert.match(ghost.body.message, /'ghost'/);
    const credential = await fx.operator({
      method: 'POST',
      path: '/v1/rollouts',
      body: body({ target: { services: { web: { image: 'lab/web:2' } }, registryCredentials: ['nope'] } }),
    });
    assert.equal(credential.status, 400, credential.raw);
    assert.equal(credential.body.details.issues[0].code, 'unknown_reference');
    assert.equal(await fx.snapshot(), before, 'nothing written');
  });

  test('a job rollout: each device gets the job, onAbort defaults to leave, the view names the job', async () => {
    const job = {
      type: 'restart-service',
      params: { service: 'web', reason: 'rollout' },
      inProgressTimeoutSeconds: 120,
    };
    const r = await create({ target: undefined, job }, 'corr-job-1');
    assert.equal(r.status, 'active');
    assert.equal(r.deviceCount, 3);
    assert.equal(r.onAbort, 'leave', 'a job cannot be taken back');
    assert.equal(r.targetVersion, 'job:restart-service');
    assert.deepEqual(r.job, job);
    assert.equal(r.deviceTimeoutSeconds, 120 + 600, "the job's timeout + 10 min");
    const audit = (await fleetEvents('operator.action')).find((e) => e.detail.target.id === r.rolloutId);
    assert.equal(audit?.detail.params.job, 'restart-service');
    assert.equal(audit?.correlationId, 'corr-job-1');

    // The controller's first run enqueues the canary's job, a real job in the jobs table; the next one counts it.
    const t0 = Date.now();
    await advanceActiveRollouts(t0);
    await advanceActiveRollouts(t0 + 1000);
    const moving = RolloutView.parse((await fx.operator({ method: 'GET', path: `/v1/rollouts/${r.rolloutId}` })).body);
    assert.deepEqual(moving.stages[0]!.counts, { pending: 0, inProgress: 1, succeeded: 0, failed: 0, skipped: 0 });
    const { getJob } = await import('../../../functions/adapters/jobs-repo.js');
    const { rolloutJobId } = await import('../../../functions/services/rollout-jobs.js');
    const canaryJob = await getJob(rolloutJobId(r.rolloutId, 0));
    assert.equal(canaryJob?.deviceId, 'p1', 'the first device of the frozen set');
    assert.equal(canaryJob?.type, 'restart-service');
    assert.deepEqual(canaryJob?.params, job.params);
    assert.equal(canaryJob?.inProgressTimeoutSeconds, 120);
    assert.equal(canaryJob?.status, 'QUEUED');
    assert.equal((await act(r.rolloutId, 'abort', 'corr-job-cleanup')).body.status, 'aborted', 'left, not rolled back');
  });

  test('a job rollout the contract or the service refuses: a precise 400, nothing written', async () => {
    const before = await fx.snapshot();
    const refused = async (over: Record<string, unknown>, path: string, code: string, message: RegExp) => {
      const res = await fx.operator({ method: 'POST', path: '/v1/rollouts', body: body(over) });
      assert.equal(res.status, 400, res.raw);
      assert.equal(res.body.error, 'validation_failed');
      const issue = res.body.details.issues.find((i: any) => i.path === path);
      assert.ok(issue, `an issue at ${path}: ${res.raw}`);
      if (code) assert.equal(issue.code, code, res.raw);
      assert.match(issue.message, message);
    };
    const restart = { type: 'restart-service', params: { service: 'web' } };
    await refused({ job: restart }, 'target', '', /exactly one of target and job/);
    await refused({ target: undefined }, 'target', '', /exactly one of target and job/);
    await refused({ target: undefined, job: { type: 'reboot', params: {} } }, 'job.type', '', /restart-service/);
    await refused({ target: undefined, job: { type: 'restart-service', params: {} } }, 'job.params.service', '', /./);
    await refused(
      { target: undefined, job: { ...restart, inProgressTimeoutSeconds: 5 } },
      'job.inProgressTimeoutSeconds',
      '',
      /./,
    );
    await refused(
      { target: undefined, job: { type: 'set-target-state', params: { target: { services: {} } } } },
      'job.type',
      'use_target',
      /rolled out as a target/,
    );
    await refused({ target: undefined, job: restart, onAbort: 'rollback' }, 'onAbort', 'not_reversible', /leave/);
    assert.equal(await fx.snapshot(), before, 'nothing written');
  });

  test('an unknown rollout: 404 for status and every action', async () => {
    const id = 'ro_0000000000ZZZZZZZZZZZZZZ';
    assert.equal((await fx.operator({ method: 'GET', path: `/v1/rollouts/${id}` })).status, 404);
    for (const a of ['pause', 'resume', 'abort'] as const) {
      const res = await act(id, a, 'corr-404');
      assert.equal(res.status, 404, res.raw);
      assert.equal(res.body.error, 'not_found');
    }
  });
});

describe('pause, resume, abort', () => {
  test('each action moves the status once, leaves an audit event, and an out-of-order one is a 409', async () => {
    const r = await create({}, 'corr-create-2');
    const refused = async (action: 'pause' | 'resume' | 'abort', status: string) => {
      const before = await fx.snapshot();
      const res = await act(r.rolloutId, action, `corr-refused-${action}`);
      assert.equal(res.status, 409, `${action} on ${status}: ${res.raw}`);
      assert.equal(res.body.error, 'invalid_transition');
      assert.equal(
        res.body.message,
        `a rollout that is ${status} cannot be ${action === 'abort' ? 'aborted' : `${action}d`}`,
      );
      assert.deepEqual(res.body.details, { status, action });
      assert.equal(await fx.snapshot(), before, `${action} on ${status} wrote something`);
    };

    await refused('resume', 'active');
    const paused = await act(r.rolloutId, 'pause', 'corr-pause-1');
    assert.equal(paused.status, 200, paused.raw);
    assert.equal(RolloutView.parse(paused.body).status, 'paused');
    await refused('pause', 'paused');

    const resumed = await act(r.rolloutId, 'resume', 'corr-resume-1');
    assert.equal(resumed.status, 200, resumed.raw);
    assert.equal(resumed.body.status, 'active');

    const aborted = await act(r.rolloutId, 'abort', 'corr-abort-1');
    assert.equal(aborted.status, 200, aborted.raw);
    const view = RolloutView.parse(aborted.body);
    assert.equal(view.status, 'rolling-back', 'onAbort rollback: the controller gives moved devices their target back');
    assert.equal(view.abort?.by, 'operator');
    assert.equal(view.abort?.detail, 'wrong image');
    await refused('abort', 'rolling-back');
    await refused('pause', 'rolling-back');
    await refused('resume', 'rolling-back');

    const audit = (await fleetEvents('operator.action')).filter((e) => e.detail.target.id === r.rolloutId);
    assert.deepEqual(
      audit.map((e) => [e.detail.action, e.correlationId, e.detail.by]).sort(),
      [
        ['rollout.abort', 'corr-abort-1', 'operator:operator'],
        ['rollout.create', 'corr-create-2', 'operator:operator'],
        ['rollout.pause', 'corr-pause-1', 'operator:operator'],
        ['rollout.resume', 'corr-resume-1', 'operator:operator'],
      ],
      'one audit event per action that landed, none for the refused ones',
    );
    assert.equal(audit.find((e) => e.detail.action === 'rollout.abort')!.detail.params.reason, 'wrong image');
    for (const [type, corr] of [
      ['rollout.paused', 'corr-pause-1'],
      ['rollout.resumed', 'corr-resume-1'],
      ['rollout.aborted', 'corr-abort-1'],
    ] as const) {
      const events = (await fleetEvents(type)).filter((e) => e.detail.rolloutId === r.rolloutId);
      assert.equal(events.length, 1, `one ${type}`);
      assert.equal(events[0]!.correlationId, corr);
      assert.equal(events[0]!.detail.by, 'operator:operator');
      assert.ok(Date.parse(events[0]!.at) > 0);
    }
  });

  test('a finished rollout (aborted, leaving its devices) refuses every action', async () => {
    const r = await create({ onAbort: 'leave' });
    const aborted = await act(r.rolloutId, 'abort', 'corr-abort-2');
    assert.equal(aborted.status, 200, aborted.raw);
    assert.equal(aborted.body.status, 'aborted');
    assert.ok(aborted.body.finishedAt);
    const before = await fx.snapshot();
    for (const a of ['pause', 'resume', 'abort'] as const) {
      const res = await act(r.rolloutId, a, 'corr-late');
      assert.equal(res.status, 409, res.raw);
      assert.equal(res.body.details.status, 'aborted');
    }
    assert.equal(await fx.snapshot(), before);
  });

  test('two operators pausing at once: one succeeds, the other is told it is paused already', async () => {
    const r = await create();
    const answers = await Promise.all([act(r.rolloutId, 'pause', 'corr-a'), act(r.rolloutId, 'pause', 'corr-b')]);
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 409]);
    const events = (await fleetEvents('rollout.paused')).filter((e) => e.detail.rolloutId === r.rolloutId);
    assert.equal(events.length, 1);
  });
});
