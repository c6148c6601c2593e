import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toAlertEvent } from '../../../functions/domain/alerting/event.js';
import { groupedEvent } from '../../../functions/domain/alerting/groups.js';
import { deviceFindings } from '../../../functions/domain/health-policy.js';

test('the next action names the device, not `<id>`', () => {
  const e = toAlertEvent(
    {
      alertName: 'DeviceOffline',
      level: 2,
      deviceId: 'pump-7',
      summary: 'pump-7 offline',
      since: Date.parse('2025-01-01T00:00:00Z'),
    } as never,
    { notificationId: 'n-1', now: Date.parse('2025-01-01T00:10:00Z') },
  );
  assert.match(e.nextAction, /fleetmedic device pump-7/);
  assert.doesNotMatch(e.nextAction, /<id>/);
});

test('a grouped alert about one device names it in its next action too', () => {
  const T0 = Date.parse('2025-01-01T00:00:00Z');
  const e = groupedEvent(
    {
      groupKey: 'DeviceOffline',
      windowId: 'w',
      alertName: 'DeviceOffline',
      openedAt: T0,
      flushAt: T0,
      lastAt: T0,
      memberCount: 1,
      openCount: 1,
      maxLevel: 2,
      sample: [{ deviceId: 'pump-7', since: new Date(T0).toISOString() }],
      version: 1,
    },
    { now: T0 + 60_000 },
  );
  assert.match(e.nextAction, /fleetmedic device pump-7/);
  assert.doesNotMatch(e.nextAction, /<id>/);
});

test('one retry is "1 retry", not "1 retries"', () => {
  const now = Date.parse('2025-01-01T01:00:00Z');
  const findings = deviceFindings(
    [
      {
        name: 'web',
        image: 'lab/web:1',
        status: 'error',
        restartCount: 0,
        recentRestarts: 0,
        lastHealthCheck: null,
        error: {
          type: 'RecoveryFailed',
          message: 'no',
          timestamp: '2025-01-01T00:00:00Z',
          retryCount: 1,
          nextRetry: null,
          permanent: false,
          quarantined: true,
          attempted: [],
        },
      },
    ] as never,
    now,
  );
  assert.ok(findings.length > 0, 'the failing service is a finding');
  const text = JSON.stringify(findings);
  assert.doesNotMatch(text, /\b1 retries\b/);
  assert.match(text, /\b1 retry\b/);
});
