import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Job } from '../../../functions/contract/jobs.js';
import { failAttempt, RETRY_BY } from '../../../functions/domain/job-recovery.js';
import type { RetryPolicies } from '../../../functions/domain/retry-policy.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const policies: RetryPolicies = {
  'restart-service': {
    onFailure: {
      FAILED: {
        strategy: 'RETRY',
        maxAttempts: 2,
        baseDelaySeconds: 10,
        maxDelaySeconds: 10,
        whenExhausted: 'ESCALATE',
      },
      TIMED_OUT: { strategy: 'MANUAL' },
    },
  },
  'run-health-check': { onFailure: { FAILED: { strategy: 'SKIP' }, TIMED_OUT: { strategy: 'SKIP' } } },
};

function job(over: Partial<Job> = {}): Job {
  return {
    jobId: 'job_AAAAAAAAAAAAAAAA',
    deviceId: 'dev-1',
    type: 'restart-service',
    params: { service: 'web' },
    status: 'IN_PROGRESS',
    version: 3,
    attempt: 1,
    createdAt: '2026-03-01T11:00:00.000Z',
    updatedAt: '2026-03-01T11:00:00.000Z',
    correlationId: 'c-1',
    history: [
      { attempt: 1, status: 'QUEUED', at: '2026-03-01T11:00:00.000Z', by: 'operator' },
      { attempt: 1, status: 'IN_PROGRESS', at: '2026-03-01T11:00:01.000Z', by: 'dev-1' },
    ],
    ...over,
  };
}

describe('failing a job attempt applies its retry policy (job recovery)', () => {
  test('RETRY re-arms the same job id as attempt n+1, keeping the failed attempt in history', () => {
    const r = failAttempt(job(), {
      kind: 'FAILED',
      by: 'dev-1',
      error: 'container exited 137',
      now: NOW,
      policies,
      random: () => 0.99,
    });
    assert.ok(r.ok);
    assert.equal(r.terminal, false);
    assert.equal(r.job.jobId, 'job_AAAAAAAAAAAAAAAA');
    assert.equal(r.job.status, 'QUEUED');
    assert.equal(r.job.attempt, 2);
    assert.equal(r.job.version, 4);
    assert.deepEqual(r.job.history.slice(-2), [
      { attempt: 1, status: 'FAILED', at: new Date(NOW).toISOString(), by: 'dev-1', error: 'container exited 137' },
      { attempt: 2, status: 'QUEUED', at: new Date(NOW).toISOString(), by: RETRY_BY },
    ]);
    assert.equal(r.decision.strategy, 'RETRY');
    assert.equal(r.job.statusDetails?.retryNotBefore, new Date(NOW + 10_000).toISOString());
    assert.deepEqual(
      r.events.map((e) => e.type),
      ['command.failed'],
    );
    assert.equal(r.events[0]!.detail.recovery, 'RETRY');
  });

  test('after max attempts ESCALATE ends the job FAILED and records job.escalated', () => {
    const r = failAttempt(job({ attempt: 2 }), { kind: 'FAILED', by: 'dev-1', error: 'boom', now: NOW, policies });
    assert.ok(r.ok);
    assert.equal(r.terminal, true);
    assert.equal(r.job.status, 'FAILED');
    assert.equal(r.job.attempt, 2);
    assert.equal(r.job.statusDetails?.recovery, 'ESCALATE');
    assert.deepEqual(
      r.events.map((e) => e.type),
      ['command.failed', 'job.escalated'],
    );
  });

  test('TIMED_OUT with MANUAL ends TIMED_OUT and asks for an operator', () => {
    const r = failAttempt(job(), { kind: 'TIMED_OUT', by: 'sweeper', now: NOW, policies });
    assert.ok(r.ok);
    assert.equal(r.job.status, 'TIMED_OUT');
    assert.deepEqual(
      r.events.map((e) => e.type),
      ['job.timed_out', 'job.needs_operator'],
    );
  });

  test('SKIP ends the job quietly', () => {
    const r = failAttempt(job({ type: 'run-health-check' }), { kind: 'FAILED', by: 'dev-1', now: NOW, policies });
    assert.ok(r.ok);
    assert.equal(r.job.status, 'FAILED');
    assert.equal(r.job.statusDetails?.recovery, 'SKIP');
    assert.deepEqual(
      r.events.map((e) => e.type),
      ['command.failed'],
    );
  });

  test('terminal states are final', () => {
    for (const status of ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELED', 'REJECTED'] as const) {
      const r = failAttempt(job({ status }), { kind: 'TIMED_OUT', by: 'sweeper', now: NOW, policies });
      assert.equal(r.ok, false, status);
    }
  });

  test('unknown job types are left for an operator', () => {
    const r = failAttempt(job({ type: 'future-thing' }), { kind: 'FAILED', by: 'dev-1', now: NOW, policies });
    assert.ok(r.ok);
    assert.equal(r.decision.strategy, 'MANUAL');
  });
});
