import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../agent/src/clock.js';
import { RetryManager } from '../../../agent/src/backoff/manager.js';
import { DEFAULT_BACKOFF_POLICY, nextRetry } from '../../../agent/src/backoff/policy.js';
import { restoreBackoff, snapshotBackoff } from '../../../agent/src/backoff/persist.js';
import { classifyContainerError, classifyPullError, toStepError } from '../../../agent/src/backoff/errors.js';

const S = 1000;
const pullFailure = (permanent = false) => ({
  action: 'pullImage' as const,
  services: ['web'],
  type: 'ErrImagePull' as const,
  message: 'registry unreachable',
  permanent,
});

test('schedule: 10s → 20s → 40s → 80s → 160s → 300s max, quarantine after 10 failures, then every 30 min', () => {
  const clock = new FakeClock();
  const m = new RetryManager();
  const delays: number[] = [];
  for (let i = 1; i <= 12; i++) {
    const e = m.recordFailure('image:x', pullFailure(), clock.monoNow(), clock.wallNow());
    delays.push((e.nextRetryMono! - clock.monoNow()) / S);
    assert.equal(e.attempts, i);
    assert.equal(e.quarantined, i >= 10, `attempt ${i}`);
    // Not retried before the delay is over, retried exactly when it is.
    assert.equal(m.isWaiting('image:x', clock.monoNow() + e.nextRetryMono! - clock.monoNow() - 1), true);
    clock.advance(e.nextRetryMono! - clock.monoNow());
    assert.equal(m.isWaiting('image:x', clock.monoNow()), false);
  }
  assert.deepEqual(delays, [10, 20, 40, 80, 160, 300, 300, 300, 300, 1800, 1800, 1800]);
});

test('permanent errors: same delays, quarantined after 5 failures instead of 10', () => {
  const d = [1, 2, 3, 4, 5, 6].map((n) => nextRetry(DEFAULT_BACKOFF_POLICY, n, true));
  assert.deepEqual(
    d.map((x) => x.delayMs / S),
    [10, 20, 40, 80, 1800, 1800],
  );
  assert.deepEqual(
    d.map((x) => x.quarantined),
    [false, false, false, false, true, true],
  );
  assert.equal(nextRetry(DEFAULT_BACKOFF_POLICY, 5, false).quarantined, false);
});

test('success stops gating at once but keeps the count until 10 min healthy; then it is reset', () => {
  const clock = new FakeClock();
  const m = new RetryManager();
  m.recordFailure(
    'start:web',
    { ...pullFailure(), action: 'startContainer', type: 'StartFailure' },
    clock.monoNow(),
    clock.wallNow(),
  );
  m.recordFailure(
    'start:web',
    { ...pullFailure(), action: 'startContainer', type: 'StartFailure' },
    clock.monoNow(),
    clock.wallNow(),
  );
  m.recordSuccess('start:web');
  assert.equal(m.isWaiting('start:web', clock.monoNow()), false);
  assert.deepEqual(m.activeFor('web'), [], 'a succeeded key is not reported');
  // Flaps before 10 min healthy: the count continues (third failure → 40 s).
  m.noteHealth('web', true, clock.monoNow());
  clock.advance(5 * 60 * S);
  assert.equal(m.noteHealth('web', true, clock.monoNow()), false);
  const e = m.recordFailure(
    'start:web',
    { ...pullFailure(), action: 'startContainer', type: 'StartFailure' },
    clock.monoNow(),
    clock.wallNow(),
  );
  assert.equal(e.attempts, 3);
  assert.equal(e.nextRetryMono! - clock.monoNow(), 40 * S);
  m.recordSuccess('start:web');
  // Healthy for 10 uninterrupted minutes → reset: the next failure starts over at 10 s.
  m.noteHealth('web', true, clock.monoNow());
  clock.advance(9 * 60 * S);
  m.noteHealth('web', false, clock.monoNow()); // a blip restarts the 10 minutes
  m.noteHealth('web', true, clock.monoNow());
  clock.advance(9 * 60 * S);
  assert.equal(m.noteHealth('web', true, clock.monoNow()), false);
  clock.advance(60 * S);
  assert.equal(m.noteHealth('web', true, clock.monoNow()), true);
  assert.equal(m.get('start:web'), undefined);
  assert.equal(
    m.recordFailure(
      'start:web',
      { ...pullFailure(), action: 'startContainer', type: 'StartFailure' },
      clock.monoNow(),
      clock.wallNow(),
    ).attempts,
    1,
  );
});

test('resetService (target changed / retry-now) makes the step due at once, also when quarantined', () => {
  const clock = new FakeClock();
  const m = new RetryManager();
  for (let i = 0; i < 10; i++) m.recordFailure('image:bad', pullFailure(true), clock.monoNow(), clock.wallNow());
  assert.equal(m.get('image:bad')!.quarantined, true);
  assert.equal(m.isWaiting('image:bad', clock.monoNow()), true);
  assert.equal(m.resetService('web'), 1);
  assert.equal(m.isWaiting('image:bad', clock.monoNow()), false);
  assert.equal(m.get('image:bad'), undefined);
});

test('a key shared by two services: resetting one makes it due but keeps reporting it on the other', () => {
  const clock = new FakeClock();
  const m = new RetryManager();
  m.recordFailure('image:shared', { ...pullFailure(), services: ['a', 'b'] }, clock.monoNow(), clock.wallNow());
  m.resetService('a');
  assert.equal(m.isWaiting('image:shared', clock.monoNow()), false);
  assert.deepEqual(
    m.activeFor('b').map((e) => e.key),
    ['image:shared'],
  );
  assert.deepEqual(m.activeFor('a'), []);
});

test('monotonic clock: a wall-clock jump neither stalls nor storms retries', () => {
  const clock = new FakeClock();
  const m = new RetryManager();
  m.recordFailure('image:x', pullFailure(), clock.monoNow(), clock.wallNow());
  clock.jumpWall(-365 * 24 * 3600 * S); // RTC reset to last year
  clock.advance(10 * S);
  assert.equal(m.isWaiting('image:x', clock.monoNow()), false, 'backwards jump does not stall the retry');
  m.recordFailure('image:x', pullFailure(), clock.monoNow(), clock.wallNow());
  clock.jumpWall(+2 * 365 * 24 * 3600 * S); // NTP sync far forward
  clock.advance(1 * S);
  assert.equal(m.isWaiting('image:x', clock.monoNow()), true, 'forward jump does not make retries due early');
  assert.equal(m.gates(clock.monoNow()).get('image:x')! - clock.monoNow(), 19 * S);
});

test('persistence stores remaining delays: survives a restart, and wall jumps between runs are clamped', () => {
  const a = new FakeClock(5_000, Date.parse('2030-01-01T00:00:00Z'));
  const m = new RetryManager();
  for (let i = 0; i < 3; i++) m.recordFailure('image:x', pullFailure(), a.monoNow(), a.wallNow()); // 40 s delay
  m.recordFailure(
    'start:web',
    { ...pullFailure(), action: 'startContainer', type: 'StartFailure' },
    a.monoNow(),
    a.wallNow(),
  );
  m.recordSuccess('start:web');
  a.advance(15 * S);
  const saved = JSON.parse(JSON.stringify(snapshotBackoff(m, a)));
  assert.equal(saved.entries.find((e: { key: string }) => e.key === 'image:x').remainingMs, 25 * S);

  // New process: different monotonic origin, 5 s of downtime.
  const b = new FakeClock(77, a.wallNow() + 5 * S);
  const m2 = new RetryManager();
  restoreBackoff(m2, saved, b);
  assert.equal(m2.gates(b.monoNow()).get('image:x')! - b.monoNow(), 20 * S);
  assert.equal(m2.get('image:x')!.attempts, 3, 'the count survives: next failure waits 80 s');
  assert.equal(m2.get('start:web')!.nextRetryMono, null);

  // Wall clock went backwards between runs: never wait longer than what was left.
  const c = new FakeClock(0, a.wallNow() - 3600 * S);
  const m3 = new RetryManager();
  restoreBackoff(m3, saved, c);
  assert.equal(m3.gates(c.monoNow()).get('image:x')! - c.monoNow(), 25 * S);

  // Far forward: due now (once), not a storm: the next failure continues the schedule.
  const d = new FakeClock(0, a.wallNow() + 86400 * S);
  const m4 = new RetryManager();
  restoreBackoff(m4, saved, d);
  assert.equal(m4.isWaiting('image:x', d.monoNow()), false);
  assert.equal(
    m4.recordFailure('image:x', pullFailure(), d.monoNow(), d.wallNow()).nextRetryMono! - d.monoNow(),
    80 * S,
  );

  // An absurd stored delay cannot stall a step past the policy's longest wait.
  const bad = { ...saved, entries: saved.entries.map((e: object) => ({ ...e, remainingMs: 1e12 })) };
  const m5 = new RetryManager();
  restoreBackoff(m5, bad, b);
  assert.ok(m5.gates(b.monoNow()).get('image:x')! - b.monoNow() <= DEFAULT_BACKOFF_POLICY.maxMs);
});

test('classification: permanent vs transient vs disk full', () => {
  const podman = classifyPullError(
    'initializing source docker://127.0.0.1:5000/lab/busybox:missing: reading manifest missing in 127.0.0.1:5000/lab/busybox: manifest unknown: manifest unknown',
  );
  assert.equal(podman.type, 'ErrImagePull');
  assert.equal(podman.permanent, true);
  const docker404 = toStepError(
    'pullImage',
    Object.assign(
      new Error('(HTTP code 404) unexpected - manifest for x:y not found: manifest unknown: manifest unknown'),
      { statusCode: 404, json: { message: 'manifest for x:y not found: manifest unknown: manifest unknown' } },
    ),
  );
  assert.equal(docker404.permanent, true);
  assert.equal(docker404.message, 'manifest for x:y not found: manifest unknown: manifest unknown');
  assert.equal(
    classifyPullError('Head "https://reg/v2/x/manifests/1": unauthorized: authentication required').permanent,
    true,
  );
  assert.equal(
    classifyPullError(
      'pinging container registry reg:5000: Get "https://reg:5000/v2/": dial tcp 10.0.0.1:5000: connect: connection refused',
    ).permanent,
    false,
  );
  assert.equal(classifyPullError('received unexpected HTTP status: 503 Service Unavailable').permanent, false);
  assert.equal(classifyPullError('net/http: TLS handshake timeout').permanent, false);
  const disk = classifyPullError('write /var/lib/docker/tmp/x: no space left on device');
  assert.deepEqual([disk.type, disk.permanent], ['DiskFull', false]);
  assert.deepEqual(
    ((e) => [e.type, e.permanent])(
      classifyContainerError('createContainer', 'the container name "fleetmedic_web" is already in use by 7e63', 500),
    ),
    ['InvalidSpec', true],
  );
  assert.deepEqual(
    ((e) => [e.type, e.permanent])(
      classifyContainerError(
        'startContainer',
        'runc create failed: exec: "/nonexistent": stat /nonexistent: no such file or directory: OCI runtime attempted to invoke a command that was not found',
        500,
      ),
    ),
    ['StartFailure', true],
  );
  assert.deepEqual(
    ((e) => [e.type, e.permanent])(classifyContainerError('startContainer', 'port is already allocated', 500)),
    ['StartFailure', false],
  );
});
