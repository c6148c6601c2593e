/** IoT-Jobs-style lifecycle: allowed transitions, terminal finality, versions, history. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  EnqueueJobRequest,
  IN_PROGRESS_TIMEOUT_MAX_SECONDS,
  IN_PROGRESS_TIMEOUT_MIN_SECONDS,
  JOB_TYPES,
  TERMINAL_JOB_STATUSES,
  type JobStatus,
} from '../../../functions/contract/jobs.js';
import { failAttempt } from '../../../functions/domain/job-recovery.js';
import {
  MAX_HISTORY,
  canTransition,
  defaultInProgressTimeoutSeconds,
  inProgressDeadline,
  inProgressTimeoutSeconds,
  isRepeatedClaim,
  isReplayOf,
  isTerminal,
  newJob,
  transition,
} from '../../../functions/domain/job-lifecycle.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const job = () =>
  newJob({
    jobId: 'job_ABCDEFGHIJ',
    deviceId: 'dev-1',
    type: 'restart-service',
    params: { service: 'web' },
    correlationId: 'c-1',
    by: 'operator:x',
    now: T0,
  });
const ALL: JobStatus[] = ['QUEUED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'CANCELED'];

test('a new job is QUEUED, version 1, with one history entry', () => {
  const j = job();
  assert.equal(j.status, 'QUEUED');
  assert.equal(j.version, 1);
  assert.deepEqual(j.history, [{ attempt: 1, status: 'QUEUED', at: new Date(T0).toISOString(), by: 'operator:x' }]);
});

test('transition table', () => {
  const allowed = Object.fromEntries(ALL.map((from) => [from, ALL.filter((to) => canTransition(from, to))]));
  assert.deepEqual(allowed, {
    QUEUED: ['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'CANCELED'],
    IN_PROGRESS: ['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELED'],
    SUCCEEDED: [],
    FAILED: [],
    TIMED_OUT: [],
    REJECTED: [],
    CANCELED: [],
  });
  for (const s of TERMINAL_JOB_STATUSES) assert.ok(isTerminal(s));
});

test('each transition increments the version, stamps updatedAt and appends history', () => {
  const a = transition(job(), { to: 'IN_PROGRESS', by: 'dev-1', now: T0 + 1000, statusDetails: { step: 1 } });
  assert.ok(a.ok);
  assert.equal(a.job.version, 2);
  assert.equal(a.job.updatedAt, new Date(T0 + 1000).toISOString());
  assert.deepEqual(a.job.statusDetails, { step: 1 });
  const b = transition(a.job, { to: 'FAILED', by: 'dev-1', now: T0 + 2000, error: 'boom' });
  assert.ok(b.ok);
  assert.equal(b.job.version, 3);
  assert.deepEqual(
    b.job.history.map((h) => [h.status, h.by, h.error]),
    [
      ['QUEUED', 'operator:x', undefined],
      ['IN_PROGRESS', 'dev-1', undefined],
      ['FAILED', 'dev-1', 'boom'],
    ],
  );
});

test('terminal states are final', () => {
  const done = transition(job(), { to: 'SUCCEEDED', by: 'dev-1', now: T0 });
  assert.ok(done.ok);
  for (const to of ALL) {
    const r = transition(done.job, { to, by: 'dev-1', now: T0 });
    assert.equal(r.ok, false);
    assert.ok(!r.ok && /terminal states are final/.test(r.message));
  }
  assert.equal(transition(job(), { to: 'QUEUED', by: 'x', now: T0 }).ok, false);
});

test('history stays bounded, keeping the creation entry', () => {
  let j = job();
  j = (transition(j, { to: 'IN_PROGRESS', by: 'dev-1', now: T0 }) as { job: typeof j }).job;
  for (let i = 0; i < 200; i++)
    j = (transition(j, { to: 'IN_PROGRESS', by: 'dev-1', now: T0 + i }) as { job: typeof j }).job;
  assert.equal(j.history.length, MAX_HISTORY);
  assert.equal(j.history[0]!.status, 'QUEUED');
  assert.equal(j.version, 202);
});

test('replay detection: only the update that produced the current version, by the same device', () => {
  const a = transition(job(), { to: 'IN_PROGRESS', by: 'dev-1', now: T0 });
  assert.ok(a.ok);
  assert.equal(isReplayOf(a.job, { status: 'IN_PROGRESS', expectedVersion: 1 }, 'dev-1'), true);
  assert.equal(isReplayOf(a.job, { status: 'SUCCEEDED', expectedVersion: 1 }, 'dev-1'), false);
  assert.equal(isReplayOf(a.job, { status: 'IN_PROGRESS', expectedVersion: 1 }, 'dev-2'), false);
  assert.equal(isReplayOf(a.job, { status: 'IN_PROGRESS', expectedVersion: 0 }, 'dev-1'), false);
});

test('a repeated claim: IN_PROGRESS again, without details, by the device holding the same attempt', () => {
  const a = transition(job(), { to: 'IN_PROGRESS', by: 'dev-1', now: T0 });
  assert.ok(a.ok);
  assert.equal(isRepeatedClaim(a.job, { status: 'IN_PROGRESS' }, 'dev-1'), true);
  assert.equal(isRepeatedClaim(a.job, { status: 'IN_PROGRESS', statusDetails: { step: 2 } }, 'dev-1'), false);
  assert.equal(isRepeatedClaim(a.job, { status: 'IN_PROGRESS' }, 'dev-2'), false);
  assert.equal(isRepeatedClaim(a.job, { status: 'SUCCEEDED' }, 'dev-1'), false);
  assert.equal(isRepeatedClaim(job(), { status: 'IN_PROGRESS' }, 'dev-1'), false, 'QUEUED: a first claim');
  const rearmed = transition(a.job, { to: 'IN_PROGRESS', by: 'dev-1', now: T0, nextAttempt: true });
  assert.ok(rearmed.ok);
  const older = {
    ...rearmed.job,
    history: [...rearmed.job.history.slice(0, -1), { ...rearmed.job.history.at(-1)!, attempt: 1 }],
  };
  assert.equal(isRepeatedClaim(older, { status: 'IN_PROGRESS' }, 'dev-1'), false, 'a claim of an earlier attempt');
});

test('in-progress timeouts per type', () => {
  for (const t of JOB_TYPES) assert.ok(defaultInProgressTimeoutSeconds(t) >= 60);
  assert.ok(defaultInProgressTimeoutSeconds('pull-image') > defaultInProgressTimeoutSeconds('restart-service'));
  assert.equal(defaultInProgressTimeoutSeconds('restart-service'), 300);
  assert.equal(defaultInProgressTimeoutSeconds('pull-image'), 900);
  assert.equal(defaultInProgressTimeoutSeconds('set-target-state'), 900);
  // Without a chosen timeout a job gets its type's default.
  for (const t of JOB_TYPES) assert.equal(inProgressTimeoutSeconds({ type: t }), defaultInProgressTimeoutSeconds(t));
  assert.equal(inProgressTimeoutSeconds(job()), 300);
  assert.equal(inProgressDeadline(job(), T0), T0 + 300_000);
});

test('a timeout chosen at enqueue is stored on the job and sets the deadline of every attempt', () => {
  const chosen = newJob({
    jobId: 'job_ABCDEFGHIJ',
    deviceId: 'dev-1',
    type: 'pull-image',
    params: { image: 'a:1' },
    correlationId: 'c-1',
    by: 'operator:x',
    now: T0,
    inProgressTimeoutSeconds: 20,
  });
  assert.equal(chosen.inProgressTimeoutSeconds, 20);
  assert.equal(inProgressTimeoutSeconds(chosen), 20, 'overrides the type default (900 s for pull-image)');
  assert.equal(inProgressDeadline(chosen, T0 + 5_000), T0 + 25_000);
  assert.equal(
    'inProgressTimeoutSeconds' in job(),
    false,
    'absent when not chosen (the type default is not frozen in)',
  );

  // Attempt 1 starts, times out, and the retry policy re-arms it: attempt 2 keeps the chosen timeout.
  const started = transition(chosen, { to: 'IN_PROGRESS', by: 'dev-1', now: T0 + 1_000 });
  assert.ok(started.ok);
  assert.equal(started.job.inProgressTimeoutSeconds, 20);
  const retried = failAttempt(started.job, { kind: 'TIMED_OUT', by: 'sweeper', now: T0 + 30_000, random: () => 0.5 });
  assert.ok(retried.ok && !retried.terminal, 'pull-image retries a timeout');
  assert.equal(retried.job.attempt, 2);
  assert.equal(retried.job.inProgressTimeoutSeconds, 20);
  const again = transition(retried.job, { to: 'IN_PROGRESS', by: 'dev-1', now: T0 + 60_000 });
  assert.ok(again.ok);
  assert.equal(inProgressDeadline(again.job, T0 + 60_000), T0 + 80_000);

  // The enqueue contract takes whole seconds within the bounds, and nothing else.
  const body = (inProgressTimeoutSeconds: unknown) => ({
    type: 'restart-service',
    params: { service: 'web' },
    inProgressTimeoutSeconds,
  });
  for (const ok of [IN_PROGRESS_TIMEOUT_MIN_SECONDS, 20, IN_PROGRESS_TIMEOUT_MAX_SECONDS])
    assert.equal(EnqueueJobRequest.safeParse(body(ok)).success, true, String(ok));
  for (const bad of [
    IN_PROGRESS_TIMEOUT_MIN_SECONDS - 1,
    IN_PROGRESS_TIMEOUT_MAX_SECONDS + 1,
    0,
    -20,
    20.5,
    '20',
    null,
  ]) {
    assert.equal(EnqueueJobRequest.safeParse(body(bad)).success, false, JSON.stringify(bad));
  }
  assert.equal(
    EnqueueJobRequest.safeParse({ type: 'restart-service', params: { service: 'web' } }).success,
    true,
    'optional',
  );
});
