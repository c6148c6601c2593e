/** Daily summary: due after its local time in its timezone, once per local date; the wording of both kinds. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertSchedule,
  dueSummaryDay,
  summaryText,
  type SummaryFacts,
} from '../../../functions/domain/daily-summary.js';

test('due from the configured local time on, for the local date', () => {
  const paris = { time: '08:00', timezone: 'Europe/Paris' };
  // 06:59 UTC = 07:59 in Paris (winter): not yet; 07:00 UTC = 08:00: due, for the Paris date.
  assert.equal(dueSummaryDay(Date.parse('2026-01-10T06:59:00Z'), paris), undefined);
  assert.equal(dueSummaryDay(Date.parse('2026-01-10T07:00:00Z'), paris), '2026-01-10');
  // 23:30 UTC is already the next day in Tokyo.
  assert.equal(
    dueSummaryDay(Date.parse('2026-01-10T23:30:00Z'), { time: '08:00', timezone: 'Asia/Tokyo' }),
    '2026-01-11',
  );
  assert.throws(() => assertSchedule({ time: '8am', timezone: 'UTC' }), /DAILY_SUMMARY_TIME=8am/);
  assert.throws(() => assertSchedule({ time: '08:00', timezone: 'Nowhere/Land' }), /Nowhere\/Land/);
});

const clear: SummaryFacts = {
  day: '2026-01-10',
  timezone: 'UTC',
  devicesOffline: 0,
  errorsByType: {},
  worstDevices: [],
  recoveries: { attempts: 4, succeeded: 4, successRate: 1, byStrategy: ['restart 4/4'] },
  circuitsOpened: 0,
  deadLetters: { jobs: 0, alerts: 0 },
  rollouts: { completed: 1, aborted: 0 },
};

test('nothing to say is one line; anything to say is one line per topic', () => {
  assert.equal(
    summaryText(clear),
    'Fleet daily summary 2026-01-10 (UTC, last 24 h): all clear (4 recoveries, all succeeded; 1 rollout(s) completed).',
  );
  const busy = summaryText({
    ...clear,
    devicesOffline: 2,
    errorsByType: { CrashLoopBackOff: 1, ImagePullBackOff: 3 },
    worstDevices: [
      { deviceId: 'd-1', errors: 3 },
      { deviceId: 'd-2', errors: 1 },
    ],
    recoveries: { attempts: 10, succeeded: 9, successRate: 0.9, byStrategy: ['restart 8/8', 'RETRY 1/2'] },
    circuitsOpened: 1,
    deadLetters: { jobs: 2, alerts: 0 },
    rollouts: { completed: 0, aborted: 1 },
  });
  assert.equal(
    busy,
    [
      'Fleet daily summary 2026-01-10 (UTC, last 24 h):',
      '• Devices offline now: 2',
      '• Service errors: 4 (ImagePullBackOff 3, CrashLoopBackOff 1); worst: d-1 (3), d-2 (1)',
      '• Recoveries: 10 attempts, 90.0 % succeeded (restart 8/8, RETRY 1/2)',
      '• Circuits opened: 1',
      '• Dead letters waiting: jobs 2, alerts 0',
      '• Rollouts finished: 0 completed, 1 aborted',
    ].join('\n'),
  );
});
