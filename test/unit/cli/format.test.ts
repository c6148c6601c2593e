import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  errorBadge,
  formatDuration,
  parseDuration,
  relativeTime,
  retryCountdown,
  table,
  visibleLength,
} from '../../../functions/cli/format.js';
import { deviceView, devicesView, dlqView, jobView } from '../../../functions/cli/views.js';

const plain = { color: false };
const NOW = Date.parse('2025-10-24T10:15:00.000Z');
const iso = (offsetS: number) => new Date(NOW + offsetS * 1000).toISOString();

test('durations read like kubectl: 40s, 2m05s, 1h02m, 3d04h', () => {
  assert.equal(formatDuration(40_000), '40s');
  assert.equal(formatDuration(125_000), '2m05s');
  assert.equal(formatDuration(3_720_000), '1h02m');
  assert.equal(formatDuration((3 * 24 + 4) * 3_600_000), '3d04h');
  assert.equal(formatDuration(-5), '0s');
});

test('parseDuration accepts 90s, 15m, 2h, 1d, 1h30m and rejects the rest', () => {
  assert.equal(parseDuration('2h'), 7200);
  assert.equal(parseDuration('1h30m'), 5400);
  assert.equal(parseDuration('1d'), 86400);
  assert.equal(parseDuration('90s'), 90);
  assert.equal(parseDuration('2 hours'), undefined);
  assert.equal(parseDuration(''), undefined);
  assert.equal(parseDuration('h'), undefined);
});

test('error badges: ImagePullBackOff(3) retry in 40s, and why there is no retry', () => {
  assert.equal(
    errorBadge({ type: 'ImagePullBackOff', retryCount: 3, nextRetry: iso(40) }, NOW, plain),
    'ImagePullBackOff(3) retry in 40s',
  );
  assert.equal(
    errorBadge({ type: 'CrashLoopBackOff', retryCount: 5, nextRetry: iso(-3) }, NOW, plain),
    'CrashLoopBackOff(5) retrying now',
  );
  assert.equal(retryCountdown(null, NOW, { permanent: true }), 'no retry (permanent)');
  assert.equal(retryCountdown(iso(1800), NOW, { quarantined: true }), 'quarantined, retry in 30m00s');
  assert.equal(retryCountdown(null, NOW), 'no retry scheduled');
  // Colour codes wrap the badge name only, and do not count towards column widths.
  const coloured = errorBadge({ type: 'ErrImagePull', retryCount: 1, nextRetry: iso(10) }, NOW, { color: true });
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the colour codes are what is under test.
  assert.match(coloured, /\x1b\[33mErrImagePull\(1\)\x1b\[39m retry in 10s/);
  assert.equal(visibleLength(coloured), 'ErrImagePull(1) retry in 10s'.length);
});

test('relative times', () => {
  assert.equal(relativeTime(iso(-300), NOW), '5m00s ago');
  assert.equal(relativeTime(iso(120), NOW), 'in 2m00s');
  assert.equal(relativeTime(iso(0), NOW), 'just now');
  assert.equal(relativeTime(undefined, NOW), '-');
});

test('tables align on visible width', () => {
  const t = table(
    ['A', 'BB'],
    [
      ['x', 'y'],
      ['\x1b[31mlong\x1b[39m', 'z'],
    ],
    plain,
  );
  assert.deepEqual(t.split('\n'), ['A     BB', 'x     y', '\x1b[31mlong\x1b[39m  z']);
});

const circuitClosed = { state: 'closed' as const, consecutiveFailures: 0, openCount: 0 };

test('devices view: health at a glance with badges per service', () => {
  const out = devicesView(
    {
      devices: [
        {
          deviceId: 'pump-1',
          health: 'degraded',
          lastSeenAt: iso(-20),
          circuit: circuitClosed,
          errors: [{ service: 'nodered', type: 'ImagePullBackOff', retryCount: 3, nextRetry: iso(40) }],
        },
        {
          deviceId: 'pump-2',
          health: 'offline',
          lastSeenAt: iso(-600),
          circuit: { state: 'open', consecutiveFailures: 5, openCount: 1, retryAt: iso(30) },
          errors: [],
          silencedUntil: iso(7200),
        },
      ],
    },
    NOW,
    plain,
  );
  const lines = out.split('\n');
  assert.match(lines[0]!, /^DEVICE\s+HEALTH\s+CIRCUIT\s+LAST SEEN\s+ERRORS\s+SILENCED$/);
  assert.match(lines[1]!, /^pump-1\s+degraded\s+closed\s+20s ago\s+nodered: ImagePullBackOff\(3\) retry in 40s/);
  assert.match(lines[2]!, /^pump-2\s+offline\s+open, probe in 30s\s+10m00s ago\s+-\s+until 2025-10-24 12:15Z$/);
  assert.equal(lines[3], '2 device(s): 1 degraded, 1 offline');
  assert.match(devicesView({ devices: [] }, NOW, plain), /No devices yet/);
});

test('device view shows errors with what was tried, markers and events', () => {
  const out = deviceView(
    {
      deviceId: 'pump-1',
      health: 'degraded',
      lastSeenAt: iso(-5),
      agentVersion: '0.1.0',
      circuit: { state: 'closed', consecutiveFailures: 2, openCount: 0 },
      errors: [],
      services: [
        {
          name: 'nodered',
          image: 'nodered/node-red:invalid',
          status: 'error',
          restartCount: 0,
          recentRestarts: 0,
          error: {
            type: 'ImagePullBackOff',
            message: 'manifest unknown',
            timestamp: iso(-60),
            retryCount: 3,
            nextRetry: iso(40),
            permanent: true,
            quarantined: false,
            attempted: ['pull', 'pull'],
          },
          lastHealthCheck: null,
        },
        {
          name: 'mosquitto',
          image: 'eclipse-mosquitto:2.0',
          status: 'running',
          restartCount: 1,
          recentRestarts: 1,
          error: null,
          lastHealthCheck: { healthy: true, kind: 'tcp', checkedAt: iso(-3), consecutiveFailures: 0 },
          startedAt: iso(-125),
        },
      ],
      markers: [
        {
          deviceId: 'pump-1',
          service: 'mosquitto',
          kind: 'maintenance',
          createdAt: iso(-10),
          expiresAt: iso(3600),
          createdBy: 'alice',
          reason: 'firmware',
        },
      ],
      recentEvents: [
        { eventId: 'evt_1', type: 'command.failed', deviceId: 'pump-1', at: iso(-30), detail: { jobId: 'job_x' } },
      ],
      errorHistory: [
        {
          service: 'nodered',
          change: 'changed',
          type: 'ImagePullBackOff',
          previousType: 'ErrImagePull',
          message: 'manifest unknown',
          since: iso(-60),
          at: iso(-59),
        },
        {
          service: 'mosquitto',
          change: 'cleared',
          type: 'CrashLoopBackOff',
          message: 'exit 1',
          since: iso(-400),
          clearedAt: iso(-125),
          at: iso(-125),
        },
      ],
    },
    NOW,
    plain,
  );
  assert.match(out, /circuit\s+closed \(2 failed\)/);
  assert.match(out, /SERVICE\s+STATUS\s+UP\s+IMAGE\s+RESTARTS/);
  assert.match(out, /nodered\s+error\s+-\s+nodered\/node-red:invalid\s+0\s+-\s+ImagePullBackOff\(3\) retry in 40s/);
  assert.match(out, /mosquitto\s+running\s+2m05s\s+eclipse-mosquitto:2.0\s+1 \(1 recent\)\s+ok tcp 3s ago/);
  assert.match(out, /nodered: ImagePullBackOff — manifest unknown/);
  assert.match(out, /3 attempt\(s\); permanent/);
  assert.match(out, /tried: pull → pull/);
  assert.match(out, /maintenance on pump-1\/mosquitto until .* — firmware by alice/);
  assert.match(out, /30s ago\s+command.failed\s+-\s+jobId=job_x/);
  assert.match(out, /Error history\n\s+SERVICE\s+CHANGE\s+TYPE\s+SINCE\s+CLEARED\s+MESSAGE/);
  assert.match(out, /nodered\s+changed\s+ErrImagePull → ImagePullBackOff\s+\S+\s+-\s+manifest unknown/);
  assert.match(out, new RegExp(`mosquitto\\s+cleared\\s+CrashLoopBackOff\\s+${iso(-400)}\\s+${iso(-125)}\\s+exit 1`));
});

test('job and DLQ views', () => {
  const job = jobView(
    {
      jobId: 'job_ABCDEFGHIJKL',
      deviceId: 'pump-1',
      type: 'restart-service',
      params: { service: 'web' },
      status: 'TIMED_OUT',
      version: 4,
      attempt: 2,
      createdAt: iso(-600),
      updatedAt: iso(-60),
      correlationId: 'c-1',
      history: [
        { attempt: 1, status: 'QUEUED', at: iso(-600), by: 'operator' },
        { attempt: 1, status: 'TIMED_OUT', at: iso(-300), by: 'sweeper', error: 'no answer' },
      ],
    },
    NOW,
    plain,
  );
  assert.match(job, /^job_ABCDEFGHIJKL {2}TIMED_OUT/);
  assert.match(job, /command\s+restart-service service=web/);
  assert.match(job, /timeout\s+300 s in progress \(restart-service default\)/);
  assert.match(job, /1\s+TIMED_OUT\s+\S+\s+sweeper\s+no answer/);
  const dlq = dlqView(
    {
      queue: 'jobs',
      depth: 2,
      groups: [
        {
          pattern: 'unknown job type <x>',
          count: 2,
          sample: {
            messageId: 'm1234567890',
            jobId: 'job_1',
            reason: 'unknown job type foo',
            pattern: 'unknown job type <x>',
            receiveCount: 5,
          },
        },
      ],
      messages: [
        {
          messageId: 'm1234567890',
          jobId: 'job_1',
          reason: 'unknown job type foo',
          pattern: 'unknown job type <x>',
          receiveCount: 5,
        },
      ],
    },
    NOW,
    plain,
  );
  assert.match(dlq, /2 message\(s\)/);
  assert.match(dlq, /2\s+unknown job type <x>\s+job_1/);
  assert.match(dlq, /fleetmedic dlq redrive/);
});
