/** IoT-Jobs-style lifecycle: allowed transitions, terminal finality, versions, history. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JOB_TYPES, TERMINAL_JOB_STATUSES, type JobStatus } from '../../../functions/contract/jobs.js';
import { MAX_HISTORY, canTransition, inProgressTimeoutSeconds, isReplayOf, isTerminal, newJob, transition } from '../../../functions/domain/job-lifecycle.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const job = () => newJob({ jobId: 'job_ABCDEFGHIJ', deviceId: 'dev-1', type: 'restart-service', params: { service: 'web' }, correlationId: 'c-1', by: 'operator:x', now: T0 });
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
  assert.deepEqual(b.job.history.map((h) => [h.status, h.by, h.error]), [['QUEUED', 'operator:x', undefined], ['IN_PROGRESS', 'dev-1', undefined], ['FAILED', 'dev-1', 'boom']]);
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
  for (let i = 0; i < 200; i++) j = (transition(j, { to: 'IN_PROGRESS', by: 'dev-1', now: T0 + i }) as { job: typeof j }).job;
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

test('in-progress timeouts per type', () => {
  for (const t of JOB_TYPES) assert.ok(inProgressTimeoutSeconds(t) >= 60);
  assert.ok(inProgressTimeoutSeconds('pull-image') > inProgressTimeoutSeconds('restart-service'));
});
