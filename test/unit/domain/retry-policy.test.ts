import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JOB_TYPES } from '../../../functions/contract/jobs.js';
import {
  DEFAULT_RETRY_POLICIES,
  FALLBACK_POLICY,
  MAX_SQS_DELAY_SECONDS,
  backoffSeconds,
  decideRecovery,
  holdDelaySeconds,
  policyFor,
  visibilityBackoffSeconds,
  type JobTypePolicy,
} from '../../../functions/domain/retry-policy.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const low = () => 0;
const high = () => 0.999999;

const retryThenEscalate: JobTypePolicy = {
  onFailure: {
    FAILED: {
      strategy: 'RETRY',
      maxAttempts: 3,
      baseDelaySeconds: 10,
      maxDelaySeconds: 100,
      whenExhausted: 'ESCALATE',
    },
    TIMED_OUT: { strategy: 'MANUAL' },
  },
};

describe('retry policy', () => {
  test('every contract job type has a policy, every RETRY delay fits SQS DelaySeconds', () => {
    for (const t of JOB_TYPES) {
      const p = DEFAULT_RETRY_POLICIES[t];
      assert.ok(p, `no policy for ${t}`);
      for (const f of Object.values(p.onFailure)) {
        if (f.strategy === 'RETRY') {
          assert.ok(f.maxAttempts >= 2, `${t}: a RETRY policy must allow a retry`);
          assert.ok(f.maxDelaySeconds <= MAX_SQS_DELAY_SECONDS);
        }
      }
    }
  });

  test('unknown job types fall back to MANUAL, and prototype keys are not policies', () => {
    assert.equal(policyFor('reboot-the-moon'), FALLBACK_POLICY);
    assert.equal(policyFor('constructor'), FALLBACK_POLICY);
    assert.equal(policyFor('restart-service'), DEFAULT_RETRY_POLICIES['restart-service']);
  });

  test('RETRY re-arms attempt n+1 with backoff until maxAttempts, then the exhausted strategy', () => {
    const d1 = decideRecovery(retryThenEscalate, { kind: 'FAILED', attempt: 1, now: NOW, random: high });
    assert.equal(d1.strategy, 'RETRY');
    if (d1.strategy !== 'RETRY') return;
    assert.equal(d1.nextAttempt, 2);
    assert.equal(d1.delaySeconds, 10);
    assert.equal(d1.notBeforeEpochMs, NOW + 10_000);

    const d2 = decideRecovery(retryThenEscalate, { kind: 'FAILED', attempt: 2, now: NOW, random: low });
    assert.deepEqual(d2, { strategy: 'RETRY', nextAttempt: 3, delaySeconds: 10, notBeforeEpochMs: NOW + 10_000 });

    const d3 = decideRecovery(retryThenEscalate, { kind: 'FAILED', attempt: 3, now: NOW });
    assert.equal(d3.strategy, 'ESCALATE');
    assert.match((d3 as { reason: string }).reason, /attempt 3 of 3/);
  });

  test('a non-RETRY strategy applies at once, per failure kind', () => {
    assert.equal(decideRecovery(retryThenEscalate, { kind: 'TIMED_OUT', attempt: 1, now: NOW }).strategy, 'MANUAL');
    assert.equal(
      decideRecovery(DEFAULT_RETRY_POLICIES['run-health-check'], { kind: 'FAILED', attempt: 1, now: NOW }).strategy,
      'SKIP',
    );
    assert.equal(
      decideRecovery(DEFAULT_RETRY_POLICIES['run-health-check'], { kind: 'TIMED_OUT', attempt: 1, now: NOW }).strategy,
      'RETRY',
    );
    assert.equal(
      decideRecovery(DEFAULT_RETRY_POLICIES['run-health-check'], { kind: 'TIMED_OUT', attempt: 2, now: NOW }).strategy,
      'SKIP',
    );
  });

  test('backoff doubles, keeps at least half, and is capped', () => {
    assert.equal(backoffSeconds(1, 2, 300, high), 2);
    assert.equal(backoffSeconds(2, 2, 300, high), 4);
    assert.equal(backoffSeconds(3, 2, 300, high), 8);
    assert.equal(backoffSeconds(3, 2, 300, low), 4);
    assert.equal(backoffSeconds(20, 2, 300, high), 300);
    assert.equal(backoffSeconds(10_000, 2, 300, high), 300, 'no overflow for absurd attempt numbers');
    assert.equal(backoffSeconds(3, 0, 300, high), 0, 'base 0 disables backoff (tests)');
    for (let n = 1; n < 12; n++) {
      const v = backoffSeconds(n, 5, 120, Math.random);
      assert.ok(v >= Math.min(120, 5 * 2 ** (n - 1)) / 2 - 1 && v <= 120);
    }
  });

  test('visibility backoff follows the receive count, within SQS limits', () => {
    assert.equal(visibilityBackoffSeconds(1, { baseSeconds: 2, maxSeconds: 300 }, high), 2);
    assert.equal(visibilityBackoffSeconds(4, { baseSeconds: 2, maxSeconds: 300 }, high), 16);
    assert.equal(visibilityBackoffSeconds(4, { baseSeconds: 2, maxSeconds: 10 * 86400 }, high), 16);
    assert.ok(visibilityBackoffSeconds(40, { baseSeconds: 2, maxSeconds: 10 * 86400 }, high) <= 12 * 3600);
  });

  test('a held job waits until the circuit admits a probe, within SQS DelaySeconds', () => {
    assert.equal(holdDelaySeconds(NOW + 30_500, NOW), 31);
    assert.equal(holdDelaySeconds(NOW - 5_000, NOW), 1, 'already due: come back almost at once');
    assert.equal(holdDelaySeconds(NOW + 3_600_000, NOW), MAX_SQS_DELAY_SECONDS);
    assert.equal(holdDelaySeconds(undefined, NOW), MAX_SQS_DELAY_SECONDS);
  });
});
