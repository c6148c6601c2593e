/**
 * Rollouts on moto through the real adapters and the real device API: label selection frozen at creation, a
 * canary then waves at one stage a minute, devices counted as succeeded from what they report, abort by
 * percentage (with rollback of the moved devices) and by count (moved devices left), pause/resume/abort by an
 * operator, concurrent controllers advancing a rollout once, open-circuit and maintenance devices skipped.
 * Time is passed to the controller explicitly (`now`): no test waits on the wall clock.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { recordFailure } from '../../../functions/adapters/circuit-repo.js';
import { getTarget } from '../../../functions/adapters/devices-repo.js';
import { deviceRecords, getRollout } from '../../../functions/adapters/rollouts-repo.js';
import { TargetState } from '../../../functions/contract/target-state.js';
import {
  actOnRollout,
  advanceActiveRollouts,
  advanceRollout,
  createRollout,
  type CreateRolloutInput,
} from '../../../functions/services/rollouts.js';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
const tokens = new Map<string, string>();
const seqs = new Map<string, number>();

before(async () => {
  fx = await createApiFixture({ CIRCUIT_FAILURE_THRESHOLD: '1' });
});
after(() => fx.close());

async function register(deviceId: string, labels: Record<string, string>, image = 'lab/web:1') {
  const res = await fx.operator<{ token: string }>({ method: 'POST', path: '/v1/devices', body: { deviceId, labels } });
  assert.equal(res.status, 201, res.raw);
  tokens.set(deviceId, res.body.token);
  const put = await fx.operator({
    method: 'PUT',
    path: `/v1/devices/${deviceId}/target`,
    body: { services: { web: { image } } },
  });
  assert.equal(put.status, 200, put.raw);
  return put.body.version as string;
}

/** The device reports what its agent would: the version it runs, a rollback, its services' health. */
async function report(deviceId: string, s: { version: string; rolledBackFrom?: string; healthy?: boolean }) {
  const seq = (seqs.get(deviceId) ?? 0) + 1;
  seqs.set(deviceId, seq);
  const web =
    s.healthy === false
      ? {
          name: 'web',
          image: 'lab/web:2',
          status: 'restarting',
          restartCount: 3,
          error: {
            type: 'CrashLoopBackOff',
            message: 'exit 1',
            timestamp: new Date().toISOString(),
            retryCount: 3,
            nextRetry: null,
          },
        }
      : { name: 'web', image: 'lab/web:2', status: 'running', restartCount: 0 };
  const res = await fx.device({
    method: 'POST',
    path: `/v1/devices/${deviceId}/reports`,
    token: tokens.get(deviceId)!,
    body: {
      deviceId,
      seq,
      kind: 'full',
      agentVersion: '1.0.0',
      uptimeSeconds: seq,
      sentAt: new Date().toISOString(),
      targetVersion: s.version,
      ...(s.rolledBackFrom ? { rolledBackFrom: s.rolledBackFrom } : {}),
      services: [web],
    },
  });
  assert.equal(res.status, 200, res.raw);
}

const newTarget = (image: string) => TargetState.parse({ services: { web: { image } }, rollbackWindowSeconds: 10 });

function spec(over: Partial<CreateRolloutInput>): CreateRolloutInput {
  return {
    target: newTarget('lab/web:2'),
    canary: { count: 1 },
    waves: { perMinute: 2, factor: 2 },
    abortCriteria: { failurePercent: 50, minFinished: 2 },
    onAbort: 'rollback',
    ...over,
  };
}

async function created(input: CreateRolloutInput, now: number) {
  const res = await createRollout(input, 'test', now);
  assert.equal(res.kind, 'created', JSON.stringify(res));
  return res.kind === 'created' ? res.rollout : assert.fail();
}

const S = 1000;
const MIN = 60 * S;

describe('a rollout to a label selection', () => {
  test('canary, then waves one stage a minute; skipped devices counted; the rest of the fleet untouched', async () => {
    for (let i = 1; i <= 6; i++) await register(`n${i}`, { site: 'north', role: 'pump' });
    const southBefore = await register('s1', { site: 'south', role: 'pump' });
    await fx.operator({
      method: 'POST',
      path: '/v1/devices/n5/markers',
      body: { kind: 'maintenance', durationSeconds: 3600, reason: 'pump swap' },
    });
    await recordFailure('n6');

    const t0 = Date.now();
    const r = await created(spec({ selector: { site: 'north' } }), t0);
    assert.equal(r.deviceCount, 6);
    assert.deepEqual(
      r.stages.map((s) => [s.name, s.end - s.start]),
      [
        ['canary', 1],
        ['wave 1', 2],
        ['wave 2', 3],
      ],
    );
    const v = r.target!.version;
    // Registered after creation: not swept in (the set is frozen).
    await register('n7', { site: 'north', role: 'pump' });

    const canary = await advanceRollout(r.rolloutId, 'c1', t0);
    assert.deepEqual(canary, { kind: 'stage-started', stage: 'canary', moved: 1, skipped: 0, interrupted: false });
    assert.equal((await getTarget('n1'))?.version, v);
    assert.notEqual((await getTarget('n2'))?.version, v, 'wave 1 waits for the canary');

    await report('n1', { version: v });
    assert.deepEqual(
      await advanceRollout(r.rolloutId, 'c1', t0 + 5 * S),
      { kind: 'waiting', reason: 'canary in progress' },
      'on trial for its health window',
    );
    assert.deepEqual(await advanceRollout(r.rolloutId, 'c1', t0 + 11 * S), {
      kind: 'waiting',
      reason: 'rate: one stage a minute',
    });
    const wave1 = await advanceRollout(r.rolloutId, 'c1', t0 + MIN);
    assert.equal(wave1.kind === 'stage-started' && wave1.moved, 2);
    for (const id of ['n2', 'n3']) await report(id, { version: v });
    const wave2 = await advanceRollout(r.rolloutId, 'c1', t0 + 2 * MIN);
    assert.deepEqual(wave2, { kind: 'stage-started', stage: 'wave 2', moved: 1, skipped: 2, interrupted: false });
    const skipped = (await deviceRecords(r.rolloutId, 3, 6)).filter((d) => d.status === 'skipped');
    assert.deepEqual(
      skipped.map((d) => [d.deviceId, d.skipReason]),
      [
        ['n5', 'maintenance'],
        ['n6', 'circuit-open'],
      ],
    );
    assert.notEqual((await getTarget('n5'))?.version, v, 'a device under maintenance is not touched');
    await report('n4', { version: v });
    assert.deepEqual(await advanceRollout(r.rolloutId, 'c1', t0 + 2 * MIN + 11 * S), { kind: 'completed', failed: 0 });

    const done = (await getRollout(r.rolloutId))!;
    assert.equal(done.status, 'completed');
    assert.deepEqual(
      done.stages.map((s) => s.counts),
      [
        { pending: 0, inProgress: 0, succeeded: 1, failed: 0, skipped: 0 },
        { pending: 0, inProgress: 0, succeeded: 2, failed: 0, skipped: 0 },
        { pending: 0, inProgress: 0, succeeded: 1, failed: 0, skipped: 2 },
      ],
    );
    assert.equal((await getTarget('s1'))?.version, southBefore, 'outside the selector: untouched');
    assert.notEqual((await getTarget('n7'))?.version, v, 'joined after creation: untouched');
    assert.deepEqual(await advanceActiveRollouts(t0 + 10 * MIN), {}, 'a completed rollout leaves the work list');
  });
});

describe('abort criteria', () => {
  test('failure percentage after the minimum: no new device touched, moved devices rolled back', async () => {
    const before: Record<string, string> = {};
    for (const id of ['a1', 'a2', 'a3', 'a4']) before[id] = await register(id, { group: 'abort-pct' });
    const t0 = Date.now();
    const r = await created(spec({ selector: { group: 'abort-pct' }, canary: { count: 2 } }), t0);
    const v = r.target!.version;
    await advanceRollout(r.rolloutId, 'c1', t0);
    await report('a1', { version: before.a1!, rolledBackFrom: v });
    await report('a2', { version: v });

    const out = await advanceRollout(r.rolloutId, 'c1', t0 + 11 * S);
    assert.equal(out.kind, 'aborted');
    const rolled = (await getRollout(r.rolloutId))!;
    assert.equal(rolled.status, 'aborted');
    assert.equal(rolled.abort?.by, 'criterion');
    assert.equal(rolled.abort?.criterion, 'failurePercent');
    assert.equal(rolled.abort?.scope, 'canary');
    assert.deepEqual(rolled.abort?.failures, [
      { cause: 'rolled-back', count: 1, sample: [{ deviceId: 'a1', detail: `the agent rolled back from ${v}` }] },
    ]);
    for (const id of ['a1', 'a2']) assert.equal((await getTarget(id))?.version, before[id], `${id} rolled back`);
    for (const id of ['a3', 'a4']) assert.equal((await getTarget(id))?.version, before[id], `${id} never touched`);
    assert.deepEqual(
      (await deviceRecords(r.rolloutId, 0, 4)).map((d) => [d.deviceId, d.rollback]),
      [
        ['a1', 'restored'],
        ['a2', 'restored'],
      ],
    );
    assert.deepEqual(await advanceActiveRollouts(t0 + 5 * MIN), {}, 'nothing left to do');
  });

  test('failure count with onAbort=leave: a timed-out canary aborts, its device keeps the new target', async () => {
    for (const id of ['b1', 'b2']) await register(id, { group: 'abort-count' });
    const t0 = Date.now();
    const r = await created(
      spec({
        selector: { group: 'abort-count' },
        abortCriteria: { failureCount: 1, minFinished: 10 },
        onAbort: 'leave',
        deviceTimeoutSeconds: 30,
      }),
      t0,
    );
    await advanceRollout(r.rolloutId, 'c1', t0);
    assert.deepEqual(await advanceRollout(r.rolloutId, 'c1', t0 + 20 * S), {
      kind: 'waiting',
      reason: 'canary in progress',
    });
    const out = await advanceRollout(r.rolloutId, 'c1', t0 + 30 * S);
    assert.equal(out.kind === 'aborted' && out.abort.criterion, 'failureCount');
    const after = (await getRollout(r.rolloutId))!;
    assert.equal(after.status, 'aborted');
    assert.equal(after.abort?.failures?.[0]?.cause, 'timed-out');
    assert.equal((await getTarget('b1'))?.version, r.target!.version, 'left as it is');
    assert.notEqual((await getTarget('b2'))?.version, r.target!.version, 'never touched');
  });
});

describe('operators and controllers', () => {
  test('pause stops new stages, resume goes on, abort rolls back what moved', async () => {
    const before: Record<string, string> = {};
    for (const id of ['p1', 'p2', 'p3']) before[id] = await register(id, { group: 'pause' });
    const t0 = Date.now();
    const r = await created(spec({ selector: { group: 'pause' } }), t0);
    const v = r.target!.version;
    await advanceRollout(r.rolloutId, 'c1', t0);
    await report('p1', { version: v });

    const paused = await actOnRollout(r.rolloutId, 'pause', 'op', t0 + S);
    assert.equal(paused.kind === 'done' && paused.view.rollout.status, 'paused');
    assert.deepEqual(await advanceActiveRollouts(t0 + 2 * MIN), {}, 'a paused rollout is not advanced');
    assert.deepEqual(await advanceRollout(r.rolloutId, 'c1', t0 + 2 * MIN), { kind: 'busy' });
    assert.notEqual((await getTarget('p2'))?.version, v);
    const again = await actOnRollout(r.rolloutId, 'pause', 'op', t0 + S);
    assert.equal(again.kind, 'conflict');

    assert.equal((await actOnRollout(r.rolloutId, 'resume', 'op', t0 + 2 * MIN)).kind, 'done');
    const wave = (await advanceActiveRollouts(t0 + 2 * MIN))[r.rolloutId];
    assert.equal(wave?.kind === 'stage-started' && wave.stage, 'wave 1');
    assert.equal((await getTarget('p2'))?.version, v);

    const aborted = await actOnRollout(r.rolloutId, 'abort', 'op', t0 + 3 * MIN, 'wrong image');
    assert.equal(aborted.kind === 'done' && aborted.view.rollout.status, 'rolling-back');
    assert.equal((await actOnRollout(r.rolloutId, 'resume', 'op', t0 + 3 * MIN)).kind, 'conflict');
    const rb = (await advanceActiveRollouts(t0 + 3 * MIN))[r.rolloutId];
    assert.deepEqual(rb, { kind: 'rolling-back', restored: 3, done: true });
    const end = (await getRollout(r.rolloutId))!;
    assert.equal(end.status, 'aborted');
    assert.equal(end.abort?.detail, 'wrong image');
    for (const id of ['p1', 'p2', 'p3']) assert.equal((await getTarget(id))?.version, before[id], `${id} restored`);
  });

  test('controllers racing on one rollout advance it once and move each device once', async () => {
    for (let i = 1; i <= 8; i++) await register(`c${i}`, { group: 'race' });
    const t0 = Date.now();
    const r = await created(spec({ selector: { group: 'race' }, canary: { count: 3 } }), t0);
    const outcomes = await Promise.all(['x', 'y', 'z', 'w'].map((owner) => advanceRollout(r.rolloutId, owner, t0)));
    const started = outcomes.filter((o) => o.kind === 'stage-started');
    assert.equal(started.length, 1, JSON.stringify(outcomes));
    assert.deepEqual(
      outcomes.filter((o) => o.kind !== 'stage-started'),
      outcomes.filter((o) => o.kind === 'busy'),
      'the others found the lease taken',
    );
    // Whatever order the next racing runs take, the canary's three devices are recorded once each.
    await Promise.all(['x', 'y'].map((owner) => advanceRollout(r.rolloutId, owner, t0 + S)));
    const records = await deviceRecords(r.rolloutId, 0, 8);
    assert.deepEqual(
      records.map((d) => d.deviceId),
      ['c1', 'c2', 'c3'],
    );
    assert.ok(records.every((d) => d.status === 'in-progress'));
  });

  test('bad selections are refused and write nothing', async () => {
    const before = await fx.snapshot();
    const none = await createRollout(spec({ selector: { group: 'nobody' } }), 'test', Date.now());
    assert.equal(none.kind === 'invalid' && none.issues[0]?.code, 'no_devices');
    const unknown = await createRollout(spec({ deviceIds: ['n1', 'ghost'] }), 'test', Date.now());
    assert.equal(unknown.kind === 'invalid' && unknown.message, "Invalid request: no device 'ghost'");
    assert.equal(await fx.snapshot(), before);
  });
});
