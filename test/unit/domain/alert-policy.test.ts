import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  circuitOpenAlert,
  deviceOfflineAlert,
  jobEscalatedAlert,
} from '../../../functions/domain/alerting/builders.js';
import { ALERT_NAMES, severityForLevel } from '../../../functions/domain/alerting/catalogue.js';
import { fromCloudWatchAlarm } from '../../../functions/domain/alerting/cloudwatch.js';
import {
  DEFAULT_ALERT_POLICY,
  decideRaise,
  decideResolve,
  resolvedEvent,
  type AlertRecord,
} from '../../../functions/domain/alerting/dedupe.js';
import { AlertEvent, dedupeKeyFor, toAlertEvent, type AlertInput } from '../../../functions/domain/alerting/event.js';
import {
  decideFlush,
  groupedEvent,
  groupLevel,
  groupResolvedEvent,
  type GroupWindow,
} from '../../../functions/domain/alerting/groups.js';

const T0 = Date.parse('2025-01-01T10:00:00Z');
const MIN = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();
const crash: AlertInput = {
  alertName: 'ServiceCrashLoop',
  level: 2,
  deviceId: 'dev-1',
  service: 'mosquitto',
  summary: 'mosquitto is crash-looping',
  since: T0,
};

/** Applies raise/resolve decisions like the adapter does and counts what would be published. */
function simulate(ops: { at: number; op: 'raise' | 'resolve'; input?: AlertInput }[]) {
  let rec: AlertRecord | undefined;
  const published: string[] = [];
  for (const { at, op, input } of ops) {
    if (op === 'raise') {
      const d = decideRaise(rec, input ?? crash, at);
      rec = d.record;
      if (d.action === 'notify') published.push(d.repeat ? 'repeat' : d.escalated ? 'escalated' : 'firing');
    } else {
      const d = decideResolve(rec, at);
      if (d.action !== 'none') rec = d.record;
      if (d.action === 'notify-resolved') published.push('resolved');
    }
  }
  return { published, rec };
}

describe('escalation levels', () => {
  test('level 2 is WARNING (manual intervention), level 3 CRITICAL (engineering), level 1 never pages', () => {
    assert.equal(severityForLevel(2), 'WARNING');
    assert.equal(severityForLevel(3), 'CRITICAL');
    assert.equal(severityForLevel(1), 'INFO');
  });
  test('an alert event carries what failed, since when, what was tried, runbook and next action', () => {
    const e = toAlertEvent({ ...crash, tried: ['restart #1'] }, { notificationId: 'n1', now: T0 + 5 * MIN });
    assert.equal(e.severity, 'WARNING');
    assert.equal(e.dedupeKey, 'ServiceCrashLoop:dev-1:mosquitto');
    assert.equal(e.since, '2025-01-01T10:00:00.000Z');
    assert.deepEqual(e.tried, ['restart #1']);
    assert.equal(e.runbook, 'docs/runbook.md#servicecrashloop');
    assert.match(e.nextAction, /fleetmedic device/);
    assert.ok(AlertEvent.safeParse(e).success);
  });
  test('the dedupe key depends on what failed, not on the text or the time', () => {
    assert.equal(dedupeKeyFor(crash), dedupeKeyFor({ ...crash, summary: 'other text', since: T0 + 1 } as AlertInput));
    assert.notEqual(dedupeKeyFor(crash), dedupeKeyFor({ ...crash, service: 'nodered' }));
  });
  test('every alert name has a runbook section with its anchor', () => {
    const runbook = readFileSync(join(import.meta.dirname, '../../../docs/runbook.md'), 'utf8');
    for (const name of ALERT_NAMES)
      assert.match(runbook, new RegExp(`^## ${name}$`, 'm'), `runbook section for ${name}`);
  });
});

describe('dedupe and cooldown', () => {
  test('first raise notifies, raises within the cooldown are suppressed and counted', () => {
    const { published, rec } = simulate([
      { at: T0, op: 'raise' },
      { at: T0 + MIN, op: 'raise' },
      { at: T0 + 2 * MIN, op: 'raise' },
    ]);
    assert.deepEqual(published, ['firing']);
    assert.equal(rec!.suppressedCount, 2);
  });
  test('a key still firing after its cooldown is notified again, with the suppressed count', () => {
    let rec = decideRaise(undefined, crash, T0).record;
    rec = decideRaise(rec, crash, T0 + MIN).record;
    const d = decideRaise(rec, crash, T0 + DEFAULT_ALERT_POLICY.cooldownMs + 1);
    assert.equal(d.action, 'notify');
    assert.ok(d.action === 'notify' && d.repeat && d.suppressedCount === 1);
    assert.equal(d.record.suppressedCount, 0);
  });
  test('a higher severity gets through the cooldown', () => {
    const rec = decideRaise(undefined, crash, T0).record;
    const d = decideRaise(rec, { ...crash, level: 3 }, T0 + MIN);
    assert.ok(d.action === 'notify' && d.escalated);
    assert.equal(d.record.severity, 'CRITICAL');
  });
  test('a flapping service: one alert and one resolved message per cooldown', () => {
    const ops: { at: number; op: 'raise' | 'resolve' }[] = [];
    for (let i = 0; i < 20; i++) ops.push({ at: T0 + i * MIN, op: i % 2 === 0 ? 'raise' : 'resolve' });
    const { published, rec } = simulate(ops);
    assert.deepEqual(published, ['firing', 'resolved']);
    assert.equal(rec!.state, 'resolved');
    assert.equal(rec!.flaps, 9);
  });
  test('after the cooldown a new failure is a new alert', () => {
    const { published } = simulate([
      { at: T0, op: 'raise' },
      { at: T0 + MIN, op: 'resolve' },
      { at: T0 + DEFAULT_ALERT_POLICY.cooldownMs + 1, op: 'raise' },
      { at: T0 + DEFAULT_ALERT_POLICY.cooldownMs + 2 * MIN, op: 'resolve' },
    ]);
    assert.deepEqual(published, ['firing', 'resolved', 'firing', 'resolved']);
  });
  test('flapping that ends broken is re-notified once the cooldown ends', () => {
    const { published } = simulate([
      { at: T0, op: 'raise' },
      { at: T0 + MIN, op: 'resolve' },
      { at: T0 + 2 * MIN, op: 'raise' },
      { at: T0 + DEFAULT_ALERT_POLICY.cooldownMs + 1, op: 'raise' },
    ]);
    assert.deepEqual(published, ['firing', 'resolved', 'repeat']);
  });
  test('resolving an unknown or already resolved key does nothing', () => {
    assert.equal(decideResolve(undefined, T0).action, 'none');
    const { rec } = simulate([
      { at: T0, op: 'raise' },
      { at: T0 + 1, op: 'resolve' },
    ]);
    assert.equal(decideResolve(rec, T0 + 2).action, 'none');
  });
  test('the resolved message says how long it lasted and that it flapped', () => {
    const { rec } = simulate([{ at: T0, op: 'raise' }]);
    const e = resolvedEvent({ ...rec!, flaps: 2 }, { notificationId: 'r', now: T0 + 3 * MIN });
    assert.equal(e.status, 'resolved');
    assert.equal(e.severity, 'INFO');
    assert.match(e.summary, /recovered after 3m/);
    assert.match(e.summary, /flapped 2×/);
  });
});

describe('grouping (group_wait)', () => {
  const offline = (id: string) =>
    deviceOfflineAlert({ deviceId: id, lastSeenEpochMs: T0 - 2 * MIN, offlineAfterMs: 90_000 });
  test('DeviceOffline alerts join a group instead of notifying one by one', () => {
    const d = decideRaise(undefined, offline('dev-1'), T0);
    assert.equal(d.action, 'group');
    assert.equal(d.record.notifiedFiring, false);
  });
  test('resolving a grouped member counts down its group', () => {
    const d = decideRaise(undefined, offline('dev-1'), T0);
    const rec = { ...d.record, group: { key: 'DeviceOffline', windowId: 'w1' } };
    const r = decideResolve(rec, T0 + MIN);
    assert.deepEqual(r.action === 'group-member' && r.group, { key: 'DeviceOffline', windowId: 'w1' });
  });
  const window = (over: Partial<GroupWindow> = {}): GroupWindow => ({
    groupKey: 'DeviceOffline',
    windowId: 'w1',
    alertName: 'DeviceOffline',
    openedAt: T0,
    flushAt: T0 + MIN,
    lastAt: T0 + 30_000,
    memberCount: 100,
    openCount: 100,
    maxLevel: 2,
    sample: Array.from({ length: 10 }, (_, i) => ({ deviceId: `dev-${i}`, since: new Date(T0 - MIN).toISOString() })),
    version: 100,
    ...over,
  });
  test('the window waits for group_wait, then publishes; a window whose members all recovered is dropped', () => {
    assert.equal(decideFlush(window(), T0 + 59_000).action, 'wait');
    assert.equal(decideFlush(window(), T0 + MIN).action, 'publish');
    assert.equal(decideFlush(window({ openCount: 0 }), T0 + MIN).action, 'drop');
  });
  test('one grouped message names the count and a sample; a fleet-wide outage is CRITICAL', () => {
    const e = groupedEvent(window(), { now: T0 + MIN });
    assert.equal(e.group!.count, 100);
    assert.equal(e.group!.sample.length, 10);
    assert.match(e.summary, /^100 devices stopped reporting/);
    assert.match(e.summary, /and 90 more/);
    assert.equal(e.severity, 'CRITICAL');
    assert.equal(e.notificationId, 'group:DeviceOffline:w1');
    assert.equal(groupLevel(window({ memberCount: 3 })), 2);
  });
  test('a group of one reads like a single alert', () => {
    const e = groupedEvent(
      window({ memberCount: 1, openCount: 1, sample: [{ deviceId: 'dev-7', since: new Date(T0).toISOString() }] }),
      { now: T0 + MIN },
    );
    assert.equal(e.deviceId, 'dev-7');
    assert.equal(e.severity, 'WARNING');
    assert.match(e.summary, /^Device dev-7 stopped reporting/);
  });
  test('a group resolves with one message', () => {
    const e = groupResolvedEvent(window({ openCount: 0 }), { now: T0 + 10 * MIN });
    assert.equal(e.status, 'resolved');
    assert.match(e.summary, /All 100 devices/);
  });

  const pull = (id: string): AlertInput => ({
    alertName: 'ServiceImagePullBackOff',
    level: 2,
    deviceId: id,
    service: 'web',
    summary: `web (lab/web:9): ImagePullBackOff – manifest unknown on ${id}`,
    since: T0,
    tried: ['agent: 1 retry with back-off'],
    cause: 'ImagePullBackOff lab/web:9',
    dedupeKey: `ServiceImagePullBackOff:${id}:web`,
  });
  const causeWindow = (over: Partial<GroupWindow> = {}): GroupWindow =>
    window({
      groupKey: 'ServiceImagePullBackOff:ImagePullBackOff lab/web:9',
      alertName: 'ServiceImagePullBackOff',
      cause: 'ImagePullBackOff lab/web:9',
      first: pull('dev-0'),
      ...over,
    });
  test('the first device with a cause joins its group too: no message before group_wait', () => {
    const d = decideRaise(undefined, pull('dev-0'), T0);
    assert.equal(d.action, 'group');
    assert.equal(d.action === 'group' && d.groupKey, 'ServiceImagePullBackOff:ImagePullBackOff lab/web:9');
    assert.equal(decideRaise(undefined, { ...pull('dev-0'), cause: undefined }, T0).action, 'notify', 'no cause');
  });
  test('a cause group of many is one message naming the cause, the count, a sample and what to do', () => {
    const e = groupedEvent(causeWindow(), { now: T0 + MIN });
    assert.equal(e.group!.count, 100);
    assert.match(e.summary, /^100 devices: ServiceImagePullBackOff, cause ImagePullBackOff lab\/web:9: dev-0, /);
    assert.match(e.summary, /and 90 more$/);
    assert.match(e.nextAction, /^One cause on 100 devices: fix it once/);
  });
  test('a cause group of one is the device’s own alert, and resolves like it', () => {
    const w = causeWindow({ memberCount: 1, openCount: 1, sample: [{ deviceId: 'dev-0', since: iso(T0) }] });
    const own = toAlertEvent(pull('dev-0'), { notificationId: 'x', now: T0 + MIN });
    const e = groupedEvent(w, { now: T0 + MIN });
    assert.deepEqual({ ...e, notificationId: 'x' }, own);
    assert.equal(e.group, undefined);
    const r = groupResolvedEvent({ ...w, openCount: 0 }, { now: T0 + 11 * MIN });
    assert.equal(r.status, 'resolved');
    assert.equal(r.dedupeKey, 'ServiceImagePullBackOff:dev-0:web');
    assert.equal(r.deviceId, 'dev-0');
    assert.match(r.summary, /^web on dev-0 recovered after 11m/);
  });
  test('still failing after its cooldown: the group of one says so, as its own alert would', () => {
    const first = decideRaise(undefined, pull('dev-0'), T0);
    const rec = decideRaise(first.record, pull('dev-0'), T0 + MIN).record; // suppressed, counted
    const again = decideRaise(rec, pull('dev-0'), T0 + DEFAULT_ALERT_POLICY.cooldownMs + 1);
    assert.ok(again.action === 'group', again.action);
    assert.equal(again.repeat, true);
    assert.equal(again.suppressedCount, 1);
    const e = groupedEvent(
      causeWindow({
        memberCount: 1,
        openCount: 1,
        sample: [{ deviceId: 'dev-0', since: iso(T0) }],
        first: { ...pull('dev-0'), repeat: true, suppressedCount: 1 },
      }),
      { now: T0 + DEFAULT_ALERT_POLICY.cooldownMs + MIN },
    );
    assert.equal(e.repeat, true);
    assert.equal(e.suppressedCount, 1);
  });
  test('a member that resolves and re-fires inside its cooldown asks to count back into the window it left', () => {
    const raised = { ...decideRaise(undefined, pull('dev-0'), T0).record, group: { key: 'g', windowId: 'w1' } };
    const left = decideResolve(raised, T0 + 10_000);
    assert.ok(left.action === 'group-member', left.action);
    assert.deepEqual(left.record.leftGroup, { key: 'g', windowId: 'w1' });
    const again = decideRaise(left.record, pull('dev-0'), T0 + 20_000);
    assert.equal(again.action, 'suppress');
    assert.deepEqual(again.action === 'suppress' && again.rejoin, { key: 'g', windowId: 'w1' });
    assert.deepEqual(again.record.group, { key: 'g', windowId: 'w1' });
    assert.equal(again.record.leftGroup, undefined);
  });
});

describe('builders', () => {
  test('a circuit that keeps re-opening escalates to engineering', () => {
    assert.equal(circuitOpenAlert({ deviceId: 'd1', openedAtMs: T0, consecutiveFailures: 5, openCount: 1 }).level, 2);
    assert.equal(circuitOpenAlert({ deviceId: 'd1', openedAtMs: T0, consecutiveFailures: 5, openCount: 3 }).level, 3);
  });
  test('an escalated job is CRITICAL and keyed per job', () => {
    const a = jobEscalatedAlert({
      jobId: 'job_1234567890',
      deviceId: 'd1',
      type: 'restart-service',
      attempts: 3,
      firstAttemptAtMs: T0,
      lastError: 'boom',
    });
    const e = toAlertEvent(a, { notificationId: 'x', now: T0 });
    assert.equal(e.severity, 'CRITICAL');
    assert.equal(e.dedupeKey, 'JobEscalated:d1:job_1234567890');
  });
  test('CloudWatch alarm notifications become alert events; unknown JSON does not', () => {
    const e = fromCloudWatchAlarm(
      {
        AlarmName: 'fleetmedic-HighJobFailureRate',
        NewStateValue: 'ALARM',
        NewStateReason: 'Threshold crossed',
        StateChangeTime: '2025-01-01T10:00:00.000+0000',
      },
      { notificationId: 'm', now: T0 },
    );
    assert.equal(e?.alertName, 'HighJobFailureRate');
    assert.equal(e?.severity, 'CRITICAL');
    const ok = fromCloudWatchAlarm(
      { AlarmName: 'x-DeadLetters', NewStateValue: 'OK' },
      { notificationId: 'm', now: T0 },
    );
    assert.equal(ok?.status, 'resolved');
    assert.equal(fromCloudWatchAlarm({ hello: 1 }, { notificationId: 'm', now: T0 }), undefined);
  });
  test('an alarm the catalogue does not know is still posted (PlatformAlarm, WARNING), naming the alarm', () => {
    const e = fromCloudWatchAlarm(
      { AlarmName: 'Unrelated', NewStateValue: 'ALARM', NewStateReason: 'Threshold crossed' },
      { notificationId: 'm', now: T0 },
    );
    assert.equal(e?.alertName, 'PlatformAlarm');
    assert.equal(e?.severity, 'WARNING');
    assert.match(e?.summary ?? '', /^Unrelated: Threshold crossed/);
    assert.equal(e?.runbook, 'docs/runbook.md#platformalarm');
  });
  test('per-function and fleet-wide alarms have names of their own', () => {
    const cases: [string, string, string][] = [
      ['fleetmedic-prod-Errors-device-api', 'FunctionErrors', 'WARNING'],
      ['fleetmedic-prod-Throttles-job-dispatcher', 'FunctionThrottles', 'WARNING'],
      ['fleetmedic-prod-DevicesOffline', 'DevicesOffline', 'CRITICAL'],
      // Not taken for a per-function alarm: the catalogue's own names come first.
      ['fleetmedic-prod-DynamoThrottles-fleet', 'DynamoThrottles', 'WARNING'],
      ['fleetmedic-prod-ApiServerErrors', 'ApiServerErrors', 'CRITICAL'],
    ];
    for (const [alarm, name, severity] of cases) {
      const e = fromCloudWatchAlarm({ AlarmName: alarm, NewStateValue: 'ALARM' }, { notificationId: 'm', now: T0 });
      assert.equal(e?.alertName, name, alarm);
      assert.equal(e?.severity, severity, alarm);
    }
  });
  test('the watchman alarms are known alert names, so the forwarder posts them instead of dead-lettering them', () => {
    const cases: [string, string, string][] = [
      ['fleetmedic-prod-RunnerDown-health-evaluator', 'RunnerDown', 'CRITICAL'],
      ['fleetmedic-prod-ApiServerErrors', 'ApiServerErrors', 'CRITICAL'],
      ['fleetmedic-prod-DynamoThrottles-fleet', 'DynamoThrottles', 'WARNING'],
      ['fleetmedic-prod-DynamoSystemErrors-jobs', 'DynamoSystemErrors', 'CRITICAL'],
    ];
    for (const [alarm, name, severity] of cases) {
      const e = fromCloudWatchAlarm({ AlarmName: alarm, NewStateValue: 'ALARM' }, { notificationId: 'm', now: T0 });
      assert.equal(e?.alertName, name, alarm);
      assert.equal(e?.severity, severity, alarm);
      assert.equal(e?.runbook, `docs/runbook.md#${name.toLowerCase()}`);
    }
  });
});
