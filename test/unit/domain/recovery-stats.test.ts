/** Recovery statistics: counter growth from cumulative agent counters, windows over hourly buckets, the alert verdict. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  agentRecoveryDelta,
  recoveryRateVerdict,
  windowStats,
  DEFAULT_RECOVERY_RATE_POLICY,
  type RecoveryBucket,
} from '../../../functions/domain/recovery-stats.js';

const counts = (epoch: string, restart: [number, number], repull: [number, number] = [0, 0]) => ({
  epoch,
  counts: [
    { strategy: 'restart' as const, succeeded: restart[0], failed: restart[1] },
    { strategy: 'repull' as const, succeeded: repull[0], failed: repull[1] },
  ],
});

test('what cumulative counters grew by; a new epoch counts from zero; nothing goes negative', () => {
  assert.deepEqual(agentRecoveryDelta(undefined, counts('a', [2, 1])), { restart_succeeded: 2, restart_failed: 1 });
  assert.deepEqual(agentRecoveryDelta(counts('a', [2, 1]), counts('a', [2, 1])), {});
  assert.deepEqual(agentRecoveryDelta(counts('a', [2, 1]), counts('a', [5, 1], [0, 1])), {
    restart_succeeded: 3,
    repull_failed: 1,
  });
  assert.deepEqual(agentRecoveryDelta(counts('a', [9, 9]), counts('b', [1, 0])), { restart_succeeded: 1 });
  assert.deepEqual(agentRecoveryDelta(counts('a', [9, 9]), counts('a', [1, 0])), {});
  assert.deepEqual(agentRecoveryDelta(counts('a', [1, 1]), undefined), {});
});

test('windows sum whole hourly buckets; rates per strategy and overall', () => {
  const now = Date.parse('2026-01-08T10:05:00Z');
  const buckets: RecoveryBucket[] = [
    { hour: '2026-01-01T09', counts: { restart_succeeded: 100 } }, // older than 7 d: out
    { hour: '2026-01-07T12', counts: { restart_succeeded: 10, RETRY_failed: 10 } },
    { hour: '2026-01-08T09', counts: { restart_succeeded: 3, restart_failed: 1 } },
    { hour: '2026-01-08T10', counts: { ESCALATE_failed: 1, RETRY_succeeded: 1 } },
  ];
  const h1 = windowStats(buckets, now, '1h', 3_600_000);
  assert.equal(h1.since, '2026-01-08T09:00:00.000Z');
  assert.deepEqual(
    h1.strategies.map((s) => [s.strategy, s.succeeded, s.failed]),
    [
      ['restart', 3, 1],
      ['RETRY', 1, 0],
      ['ESCALATE', 0, 1],
    ],
  );
  assert.deepEqual(h1.total, { strategy: 'all', succeeded: 4, failed: 2, attempts: 6, successRate: 4 / 6 });
  const d1 = windowStats(buckets, now, '24h', 86_400_000);
  assert.equal(d1.total.attempts, 26);
  assert.equal(windowStats(buckets, now, '7d', 7 * 86_400_000).total.attempts, 26);
  assert.equal(windowStats([], now, '1h', 3_600_000).total.successRate, null);
});

test('the alert needs both a low rate and enough attempts', () => {
  const t = (succeeded: number, failed: number) => ({
    strategy: 'all' as const,
    succeeded,
    failed,
    attempts: succeeded + failed,
    successRate: succeeded + failed ? succeeded / (succeeded + failed) : null,
  });
  assert.equal(recoveryRateVerdict(t(18, 1), DEFAULT_RECOVERY_RATE_POLICY), 'ok'); // 19 attempts: too few
  assert.equal(recoveryRateVerdict(t(18, 2), DEFAULT_RECOVERY_RATE_POLICY), 'firing'); // 90 % of 20
  assert.equal(recoveryRateVerdict(t(19, 1), DEFAULT_RECOVERY_RATE_POLICY), 'ok'); // exactly 95 %
  assert.equal(recoveryRateVerdict(t(0, 0), DEFAULT_RECOVERY_RATE_POLICY), 'ok');
});
