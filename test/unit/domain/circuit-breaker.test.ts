/** The circuit breaker state machine on a fake clock (pure; no I/O). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CLOSED_CIRCUIT,
  admit,
  applyCount,
  cooldownMs,
  guardHolds,
  onFailure,
  onSuccess,
  reset,
  stateGauge,
  toView,
  type CircuitChange,
  type CircuitPolicy,
  type CircuitRecord,
} from '../../../functions/domain/circuit-breaker.js';

const policy: CircuitPolicy = { failureThreshold: 3, cooldownMs: 10_000, maxCooldownMs: 60_000, probeLeaseMs: 5_000 };
const T0 = Date.parse('2026-01-01T00:00:00Z');

/** What the store does with a change. */
function apply(r: CircuitRecord, c: CircuitChange): CircuitRecord {
  if (c.kind === 'none') return r;
  if (c.kind === 'count') {
    assert.ok(guardHolds(c.guard, r), 'a count is only applied while its guard holds');
    return applyCount(r);
  }
  return c.next;
}

test('closed: failures below the threshold are plain counts; the threshold-th opens', () => {
  let r = { ...CLOSED_CIRCUIT };
  const c1 = onFailure(r, T0, policy);
  assert.equal(c1.kind, 'count');
  r = apply(r, c1);
  r = apply(r, onFailure(r, T0, policy));
  assert.equal(r.consecutiveFailures, 2);
  assert.equal(r.state, 'closed');
  const c3 = onFailure(r, T0 + 1, policy);
  assert.equal(c3.kind, 'write');
  assert.equal(c3.kind === 'write' && c3.event?.type, 'circuit.opened');
  r = apply(r, c3);
  assert.equal(r.state, 'open');
  assert.equal(r.consecutiveFailures, 3);
  assert.equal(r.retryAtEpoch, T0 + 1 + 10_000);
  assert.equal(r.openCount, 1);
  assert.equal(r.version, 3);
});

test('the count guard forbids a count that would have to be a transition', () => {
  const atTwo: CircuitRecord = { ...CLOSED_CIRCUIT, consecutiveFailures: 2, version: 2 };
  const c = onFailure({ ...CLOSED_CIRCUIT, consecutiveFailures: 1, version: 1 }, T0, policy);
  assert.equal(c.kind, 'count');
  // A concurrent failure moved it to 2 meanwhile: the guard fails, the writer re-reads and opens instead.
  assert.equal(c.kind === 'count' && guardHolds(c.guard, atTwo), false);
  assert.equal(onFailure(atTwo, T0, policy).kind, 'write');
});

test('open refuses until the cooldown, then admits exactly one probe (half-open) under a lease', () => {
  let r: CircuitRecord = { ...CLOSED_CIRCUIT, consecutiveFailures: 2, version: 2 };
  r = apply(r, onFailure(r, T0, policy));
  const early = admit(r, T0 + 9_999, 'job_a', policy);
  assert.deepEqual(early, { admitted: false, state: 'open', retryAtEpoch: T0 + 10_000 });

  const probe = admit(r, T0 + 10_000, 'job_a', policy);
  assert.ok(probe.admitted && probe.probe);
  assert.equal(probe.change.kind, 'write');
  assert.equal(probe.change.kind === 'write' && probe.change.event?.type, 'circuit.half_open');
  const half = apply(r, probe.change);
  assert.equal(half.state, 'half-open');
  assert.equal(half.probeOwner, 'job_a');

  // Another command during the lease: refused until the lease ends. The owner itself is re-admitted.
  assert.deepEqual(admit(half, T0 + 12_000, 'job_b', policy), {
    admitted: false,
    state: 'half-open',
    retryAtEpoch: T0 + 15_000,
  });
  const again = admit(half, T0 + 12_000, 'job_a', policy);
  assert.ok(again.admitted && again.change.kind === 'none');

  // The owner died: after the lease another command takes the probe over.
  const takeover = admit(half, T0 + 15_000, 'job_b', policy);
  assert.ok(takeover.admitted && takeover.probe);
  assert.equal(apply(half, takeover.change).probeOwner, 'job_b');
});

test('a failed probe re-opens with an exponentially longer, capped cooldown; a success closes', () => {
  let r: CircuitRecord = { ...CLOSED_CIRCUIT, consecutiveFailures: 2, version: 2 };
  let now = T0;
  r = apply(r, onFailure(r, now, policy));
  const cooldowns: number[] = [r.retryAtEpoch! - now];
  for (let i = 0; i < 5; i++) {
    now = r.retryAtEpoch!;
    const p = admit(r, now, `job_${i}`, policy);
    assert.ok(p.admitted && p.probe);
    r = apply(r, p.change);
    const f = onFailure(r, now, policy);
    assert.equal(f.kind === 'write' && f.event?.detail.reason, 'probe_failed');
    r = apply(r, f);
    assert.equal(r.state, 'open');
    cooldowns.push(r.retryAtEpoch! - now);
  }
  assert.deepEqual(cooldowns, [10_000, 20_000, 40_000, 60_000, 60_000, 60_000]);
  assert.equal(r.openCount, 6);

  now = r.retryAtEpoch!;
  const p = admit(r, now, 'job_ok', policy);
  assert.ok(p.admitted);
  r = apply(r, p.change);
  const s = onSuccess(r, now);
  assert.equal(s.kind === 'write' && s.event?.type, 'circuit.closed');
  r = apply(r, s);
  assert.equal(r.state, 'closed');
  assert.equal(r.consecutiveFailures, 0);
  assert.equal(r.openStreak, 0);
  // The next open starts from the base cooldown again.
  r = apply(r, onFailure(r, now, policy));
  r = apply(r, onFailure(r, now, policy));
  r = apply(r, onFailure(r, now, policy));
  assert.equal(r.retryAtEpoch! - now, 10_000);
});

test('the healthy path writes nothing; a success after some failures only clears the count', () => {
  assert.equal(admit(CLOSED_CIRCUIT, T0, 'job', policy).admitted, true);
  assert.equal((admit(CLOSED_CIRCUIT, T0, 'job', policy) as { change: CircuitChange }).change.kind, 'none');
  assert.equal(onSuccess(CLOSED_CIRCUIT, T0).kind, 'none');
  const some: CircuitRecord = { ...CLOSED_CIRCUIT, consecutiveFailures: 2, version: 2 };
  const c = onSuccess(some, T0);
  assert.equal(c.kind, 'write');
  assert.equal(c.kind === 'write' && c.event, undefined, 'clearing the count is not a transition');
  assert.equal(apply(some, c).consecutiveFailures, 0);
});

test('failures while open keep counting without moving retryAt; reset closes and records who', () => {
  let r: CircuitRecord = { ...CLOSED_CIRCUIT, consecutiveFailures: 2, version: 2 };
  r = apply(r, onFailure(r, T0, policy));
  const retryAt = r.retryAtEpoch;
  const c = onFailure(r, T0 + 1000, policy);
  assert.equal(c.kind, 'count');
  r = apply(r, c);
  assert.equal(r.consecutiveFailures, 4);
  assert.equal(r.retryAtEpoch, retryAt);
  const rs = reset(r, T0 + 2000, 'operator:alice');
  assert.equal(rs.kind === 'write' && rs.event?.type, 'circuit.reset');
  assert.deepEqual(rs.kind === 'write' && rs.event?.detail, {
    from: 'open',
    consecutiveFailures: 4,
    by: 'operator:alice',
  });
  assert.equal(apply(r, rs).state, 'closed');
});

test('cooldown formula, gauge values and operator view', () => {
  assert.equal(cooldownMs(1, policy), 10_000);
  assert.equal(cooldownMs(3, policy), 40_000);
  assert.equal(cooldownMs(2000, policy), 60_000, 'no overflow at huge streaks');
  assert.deepEqual([stateGauge('closed'), stateGauge('half-open'), stateGauge('open')], [0, 0.5, 1]);
  const open: CircuitRecord = {
    ...CLOSED_CIRCUIT,
    state: 'open',
    consecutiveFailures: 3,
    version: 3,
    openedAt: T0,
    retryAtEpoch: T0 + 10_000,
    openCount: 1,
    openStreak: 1,
  };
  assert.deepEqual(toView(open), {
    state: 'open',
    consecutiveFailures: 3,
    openCount: 1,
    openedAt: new Date(T0).toISOString(),
    retryAt: new Date(T0 + 10_000).toISOString(),
  });
  assert.deepEqual(toView(CLOSED_CIRCUIT), { state: 'closed', consecutiveFailures: 0, openCount: 0 });
});

test('threshold 1 opens on the first failure', () => {
  const c = onFailure(CLOSED_CIRCUIT, T0, { ...policy, failureThreshold: 1 });
  assert.equal(c.kind, 'write');
});
