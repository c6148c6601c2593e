/** Rollouts, pure: selection, stage plan and rate, abort criteria, device verdicts, status transitions. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decide, type StageProgress } from '../../../functions/domain/rollouts/controller.js';
import { breach, closeness, emptyCounts } from '../../../functions/domain/rollouts/criteria.js';
import { judgeDevice, skipReason } from '../../../functions/domain/rollouts/device-outcome.js';
import { applyAction } from '../../../functions/domain/rollouts/lifecycle.js';
import { canarySize, planStages, PlanTooLongError } from '../../../functions/domain/rollouts/plan.js';
import {
  chunk,
  freezeDeviceSet,
  matchesSelector,
  parseSelector,
} from '../../../functions/domain/rollouts/selection.js';

describe('selection', () => {
  test('a selector matches devices carrying every pair', () => {
    const sel = parseSelector(' site=north, role=pump ');
    assert.deepEqual(sel, { site: 'north', role: 'pump' });
    assert.ok(matchesSelector({ site: 'north', role: 'pump', extra: 'x' }, sel));
    assert.ok(!matchesSelector({ site: 'north' }, sel));
    assert.ok(!matchesSelector(undefined, sel));
    assert.throws(() => parseSelector('site'), /not key=value/);
    assert.throws(() => parseSelector('a=1,a=2'), /twice/);
    assert.throws(() => parseSelector(' , '), /empty/);
  });
  test('the frozen set is sorted and unique; chunks keep the order', () => {
    assert.deepEqual(freezeDeviceSet(['c', 'a', 'b', 'a']), ['a', 'b', 'c']);
    assert.deepEqual(chunk([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  });
});

describe('stage plan', () => {
  test('canary by count or percent, at least one device, never more than all', () => {
    assert.equal(canarySize(100, { count: 3 }), 3);
    assert.equal(canarySize(100, { percent: 5 }), 5);
    assert.equal(canarySize(10, { percent: 1 }), 1);
    assert.equal(canarySize(2, { count: 5 }), 2);
    assert.equal(canarySize(0, { count: 5 }), 0);
  });
  test('waves grow by the factor and cover the set exactly once', () => {
    const stages = planStages(20, { count: 1 }, { perMinute: 2, factor: 2 });
    assert.deepEqual(
      stages.map((s) => [s.name, s.start, s.end]),
      [
        ['canary', 0, 1],
        ['wave 1', 1, 3],
        ['wave 2', 3, 7],
        ['wave 3', 7, 15],
        ['wave 4', 15, 20],
      ],
    );
  });
  test('a plan with too many stages is refused, naming the way out', () => {
    assert.throws(() => planStages(10_000, { count: 1 }, { perMinute: 1, factor: 1 }), PlanTooLongError);
    assert.throws(() => planStages(10_000, { count: 1 }, { perMinute: 1, factor: 1 }), /raise perMinute or factor/);
  });
});

describe('abort criteria', () => {
  const criteria = { failurePercent: 20, minFinished: 5 };
  test('a percentage is judged only after the minimum finished', () => {
    assert.equal(
      breach({ ...emptyCounts(), failed: 2, succeeded: 1, inProgress: 10 }, criteria, 'wave 1', 13),
      undefined,
    );
    const b = breach({ ...emptyCounts(), failed: 2, succeeded: 3 }, criteria, 'wave 1', 13);
    assert.equal(b?.criterion, 'failurePercent');
    assert.match(b!.detail, /2 of 5 finished devices failed \(40%\), limit 20% after 5/);
  });
  test('a stage smaller than the minimum is judged once all of it finished (a one-device canary aborts)', () => {
    const b = breach({ ...emptyCounts(), failed: 1 }, criteria, 'canary', 1);
    assert.equal(b?.criterion, 'failurePercent');
    assert.equal(b?.scope, 'canary');
  });
  test('skipped devices are neither failures nor finished', () => {
    assert.equal(breach({ ...emptyCounts(), skipped: 4, succeeded: 1 }, criteria, 'wave', 5), undefined);
  });
  test('a count criterion holds from the first failure on', () => {
    const b = breach({ ...emptyCounts(), failed: 3, succeeded: 100 }, { failureCount: 3, minFinished: 50 }, 'r', 200);
    assert.equal(b?.criterion, 'failureCount');
  });
  test('closeness shows each criterion against its limit', () => {
    assert.deepEqual(closeness({ ...emptyCounts(), failed: 1, succeeded: 3 }, { ...criteria, failureCount: 4 }), {
      failurePercent: { value: 25, limit: 20, judged: false },
      failureCount: { value: 1, limit: 4 },
    });
  });
});

describe('device verdicts', () => {
  const base = { version: 't-new', movedAt: 0, windowMs: 10_000, timeoutMs: 60_000, images: { web: 'web:2' } };
  const web = (image: string) => ({ web: { image, error: null } });
  test('succeeded: the new version, its images, healthy, with the health window over', () => {
    const state = { targetVersion: 't-new', health: 'healthy', services: web('web:2') };
    assert.equal(judgeDevice({ ...base, now: 5_000, state }).kind, 'in-progress', 'still on trial');
    assert.equal(judgeDevice({ ...base, now: 10_000, state }).kind, 'succeeded');
  });
  test('the new version while the old services still run (pulling): on trial, however healthy, until the timeout', () => {
    const pulling = { targetVersion: 't-new', health: 'healthy', services: web('web:1') };
    assert.equal(judgeDevice({ ...base, now: 10_000, state: pulling }).kind, 'in-progress');
    assert.equal(judgeDevice({ ...base, now: 30_000, state: { ...pulling, services: {} } }).kind, 'in-progress');
    const stuck = judgeDevice({ ...base, now: 60_000, state: pulling });
    assert.deepEqual(stuck.kind === 'failed' && [stuck.cause, stuck.detail], [
      'unhealthy',
      'took t-new but does not run its images',
    ]);
  });
  test('failed: rolled back from the version, unhealthy after the timeout, or never got there', () => {
    const rolled = judgeDevice({ ...base, now: 1, state: { targetVersion: 't-old', rolledBackFrom: 't-new' } });
    assert.deepEqual(rolled.kind === 'failed' && rolled.cause, 'rolled-back');
    const sick = judgeDevice({
      ...base,
      now: 60_000,
      state: { targetVersion: 't-new', health: 'degraded', services: web('web:2') },
    });
    assert.deepEqual(sick.kind === 'failed' && sick.cause, 'unhealthy');
    assert.equal(
      judgeDevice({ ...base, now: 30_000, state: { targetVersion: 't-new', health: 'degraded' } }).kind,
      'in-progress',
    );
    const late = judgeDevice({ ...base, now: 60_000, state: { targetVersion: 't-old', health: 'healthy' } });
    assert.deepEqual(late.kind === 'failed' && late.cause, 'timed-out');
    assert.equal(judgeDevice({ ...base, now: 60_000 }).kind, 'failed');
  });
  test('open circuits and maintenance markers skip a device', () => {
    assert.equal(skipReason({ circuitState: 'open', deviceMarkerActive: false }), 'circuit-open');
    assert.equal(skipReason({ circuitState: 'closed', deviceMarkerActive: true }), 'maintenance');
    assert.equal(skipReason({ circuitState: 'half-open', deviceMarkerActive: false }), undefined);
  });
});

describe('controller decisions', () => {
  const criteria = { failurePercent: 50, minFinished: 2 };
  const stage = (name: string, start: number, end: number, extra: Partial<StageProgress> = {}): StageProgress => ({
    name,
    start,
    end,
    counts: { ...emptyCounts(), pending: end - start },
    ...extra,
  });
  test('starts the canary, waits for it, then one stage a minute', () => {
    const canary = stage('canary', 0, 1);
    const wave = stage('wave 1', 1, 3);
    assert.deepEqual(decide([canary, wave], criteria, 0), { kind: 'start-stage', index: 0 });
    const running = { ...canary, startedAt: 0, counts: { ...emptyCounts(), inProgress: 1 } };
    assert.equal(decide([running, wave], criteria, 120_000).kind, 'wait');
    const done = { ...canary, startedAt: 0, counts: { ...emptyCounts(), succeeded: 1 } };
    assert.equal(decide([done, wave], criteria, 30_000).kind, 'wait', 'not within a minute of the last start');
    assert.deepEqual(decide([done, wave], criteria, 60_000), { kind: 'start-stage', index: 1 });
    const waveDone = { ...wave, startedAt: 60_000, counts: { ...emptyCounts(), succeeded: 1, skipped: 1 } };
    assert.deepEqual(decide([done, waveDone], criteria, 61_000), { kind: 'complete' });
  });
  test('a scaled-down spacing (the local fleet) lets the next stage start sooner, never before the last ended', () => {
    const done = { ...stage('canary', 0, 1), startedAt: 0, counts: { ...emptyCounts(), succeeded: 1 } };
    const running = { ...done, counts: { ...emptyCounts(), inProgress: 1 } };
    const wave = stage('wave 1', 1, 3);
    assert.equal(decide([done, wave], criteria, 500, 1000).kind, 'wait');
    assert.deepEqual(decide([done, wave], criteria, 1000, 1000), { kind: 'start-stage', index: 1 });
    assert.equal(decide([running, wave], criteria, 120_000, 1000).kind, 'wait');
  });
  test('a failed canary aborts before any wave starts', () => {
    const failed = { ...stage('canary', 0, 1), startedAt: 0, counts: { ...emptyCounts(), failed: 1 } };
    const d = decide([failed, stage('wave 1', 1, 3)], criteria, 120_000);
    assert.equal(d.kind, 'abort');
    assert.equal(d.kind === 'abort' && d.breach.scope, 'canary');
  });
});

describe('status transitions', () => {
  test('pause, resume and abort from where they make sense only', () => {
    assert.deepEqual(applyAction('active', 'pause', 'rollback'), { ok: true, status: 'paused' });
    assert.deepEqual(applyAction('paused', 'resume', 'rollback'), { ok: true, status: 'active' });
    assert.deepEqual(applyAction('paused', 'abort', 'rollback'), { ok: true, status: 'rolling-back' });
    assert.deepEqual(applyAction('active', 'abort', 'leave'), { ok: true, status: 'aborted' });
    assert.equal(applyAction('completed', 'abort', 'rollback').ok, false);
    assert.equal(applyAction('active', 'resume', 'rollback').ok, false);
    assert.equal(applyAction('rolling-back', 'pause', 'rollback').ok, false);
  });
});
