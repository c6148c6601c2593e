/**
 * Per-device circuit breaker as a pure state machine (no I/O, `now` in epoch ms).
 *
 *   closed --(CIRCUIT_FAILURE_THRESHOLD consecutive failures)--> open
 *   open --(cooldown elapsed, first command admitted as the probe)--> half-open
 *   half-open --(success)--> closed      half-open --(failure)--> open, longer cooldown
 *   any --(success)--> closed            any --(operator reset)--> closed
 *
 * Every function answers with the change to persist, in one of three forms, so the adapter can pick
 * the cheapest write that is still safe under concurrency:
 *   - `none`:  nothing to write (the healthy path: closed with no failures stays unwritten);
 *   - `count`: only the failure counter moves; safe as an atomic ADD guarded by `guard`, which is exactly
 *              the condition under which a further failure is still "just a count" (no transition);
 *   - `write`: a new record, written conditionally on the version that was read; carries the event to
 *              record when it is a state transition.
 */

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitRecord {
  state: CircuitState;
  consecutiveFailures: number;
  /** Optimistic-concurrency version; 0 means "no item stored" (closed, 0 failures). */
  version: number;
  openedAt?: number;
  /** When an open circuit admits its half-open probe. */
  retryAtEpoch?: number;
  /** Opens over the device's lifetime (shown to operators). */
  openCount: number;
  /** Opens since the circuit was last closed: drives the exponential cooldown. */
  openStreak: number;
  /** The command admitted as the half-open probe, and until when its lease holds. */
  probeOwner?: string;
  probeLeaseUntilEpoch?: number;
}

export interface CircuitPolicy {
  failureThreshold: number;
  cooldownMs: number;
  maxCooldownMs: number;
  /** How long the half-open probe is exclusively owned; if its owner dies, another command may probe after it. */
  probeLeaseMs: number;
}

export type CircuitEventType = 'circuit.opened' | 'circuit.half_open' | 'circuit.closed' | 'circuit.reset';

export interface CircuitEvent {
  type: CircuitEventType;
  detail: Record<string, unknown>;
}

export type CountGuard =
  /** Count only while closed and still below threshold-1 failures (so this failure does not trip it). */
  | { state: 'closed'; maxFailuresBefore: number }
  /** While open, failures only accumulate. */
  | { state: 'open' };

export type CircuitChange =
  | { kind: 'none'; record: CircuitRecord }
  | { kind: 'count'; guard: CountGuard; record: CircuitRecord }
  | { kind: 'write'; next: CircuitRecord; from: CircuitState; event?: CircuitEvent };

export type Admission =
  | { admitted: true; probe: boolean; change: CircuitChange }
  | { admitted: false; state: CircuitState; retryAtEpoch: number };

export const CLOSED_CIRCUIT: CircuitRecord = Object.freeze({
  state: 'closed',
  consecutiveFailures: 0,
  version: 0,
  openCount: 0,
  openStreak: 0,
}) as CircuitRecord;

/** Cooldown for the n-th consecutive open (n ≥ 1): base · 2^(n-1), capped. */
export function cooldownMs(openStreak: number, policy: CircuitPolicy): number {
  const n = Math.max(1, openStreak);
  // 2^(n-1) overflows to Infinity long after the cap applies; Math.min handles that.
  return Math.min(policy.maxCooldownMs, policy.cooldownMs * 2 ** (n - 1));
}

function opened(record: CircuitRecord, now: number, policy: CircuitPolicy, failures: number): CircuitRecord {
  const openStreak = record.openStreak + 1;
  return {
    state: 'open',
    consecutiveFailures: failures,
    version: record.version + 1,
    openedAt: now,
    retryAtEpoch: now + cooldownMs(openStreak, policy),
    openCount: record.openCount + 1,
    openStreak,
  };
}

function closed(record: CircuitRecord): CircuitRecord {
  return {
    state: 'closed',
    consecutiveFailures: 0,
    version: record.version + 1,
    openCount: record.openCount,
    openStreak: 0,
  };
}

/** A command wants to reach the device: admit it, admit it as the half-open probe, or refuse until retryAt. */
export function admit(record: CircuitRecord, now: number, owner: string, policy: CircuitPolicy): Admission {
  switch (record.state) {
    case 'closed':
      return { admitted: true, probe: false, change: { kind: 'none', record } };
    case 'open': {
      const retryAt = record.retryAtEpoch ?? 0;
      if (now < retryAt) return { admitted: false, state: 'open', retryAtEpoch: retryAt };
      const next: CircuitRecord = {
        ...record,
        state: 'half-open',
        version: record.version + 1,
        probeOwner: owner,
        probeLeaseUntilEpoch: now + policy.probeLeaseMs,
      };
      return {
        admitted: true,
        probe: true,
        change: {
          kind: 'write',
          from: 'open',
          next,
          event: {
            type: 'circuit.half_open',
            detail: { probeOwner: owner, leaseUntil: iso(next.probeLeaseUntilEpoch!) },
          },
        },
      };
    }
    case 'half-open': {
      const leaseUntil = record.probeLeaseUntilEpoch ?? 0;
      if (record.probeOwner === owner) return { admitted: true, probe: true, change: { kind: 'none', record } };
      if (now < leaseUntil) return { admitted: false, state: 'half-open', retryAtEpoch: leaseUntil };
      // The previous probe's owner went quiet past its lease: this command becomes the probe.
      const next: CircuitRecord = {
        ...record,
        version: record.version + 1,
        probeOwner: owner,
        probeLeaseUntilEpoch: now + policy.probeLeaseMs,
      };
      return { admitted: true, probe: true, change: { kind: 'write', from: 'half-open', next } };
    }
  }
}

/** A command or recovery failed on the device. */
export function onFailure(record: CircuitRecord, now: number, policy: CircuitPolicy): CircuitChange {
  const failures = record.consecutiveFailures + 1;
  switch (record.state) {
    case 'closed':
      if (failures < policy.failureThreshold) {
        return {
          kind: 'count',
          guard: { state: 'closed', maxFailuresBefore: policy.failureThreshold - 2 },
          record: { ...record, consecutiveFailures: failures, version: record.version + 1 },
        };
      }
      {
        const next = opened(record, now, policy, failures);
        return {
          kind: 'write',
          from: 'closed',
          next,
          event: { type: 'circuit.opened', detail: openedDetail(next, 'threshold') },
        };
      }
    case 'open':
      return {
        kind: 'count',
        guard: { state: 'open' },
        record: { ...record, consecutiveFailures: failures, version: record.version + 1 },
      };
    case 'half-open': {
      const next = opened(record, now, policy, failures);
      return {
        kind: 'write',
        from: 'half-open',
        next,
        event: {
          type: 'circuit.opened',
          detail: { ...openedDetail(next, 'probe_failed'), probeOwner: record.probeOwner },
        },
      };
    }
  }
}

/** A command succeeded on the device: the device is reachable and working again. */
export function onSuccess(record: CircuitRecord, _now: number): CircuitChange {
  if (record.state === 'closed') {
    if (record.consecutiveFailures === 0) return { kind: 'none', record };
    return { kind: 'write', from: 'closed', next: closed(record) };
  }
  return {
    kind: 'write',
    from: record.state,
    next: closed(record),
    event: {
      type: 'circuit.closed',
      detail: { from: record.state, consecutiveFailures: record.consecutiveFailures, probeOwner: record.probeOwner },
    },
  };
}

/** An operator closes the circuit by hand. Always written and recorded: it is a deliberate act. */
export function reset(record: CircuitRecord, _now: number, by: string): CircuitChange {
  return {
    kind: 'write',
    from: record.state,
    next: closed(record),
    event: {
      type: 'circuit.reset',
      detail: { from: record.state, consecutiveFailures: record.consecutiveFailures, by },
    },
  };
}

/** Apply a `count` change to a record (what the atomic ADD does in the store). */
export function applyCount(record: CircuitRecord): CircuitRecord {
  return { ...record, consecutiveFailures: record.consecutiveFailures + 1, version: record.version + 1 };
}

/** Would a count guard still hold for this record? (Mirrors the adapter's condition expression.) */
export function guardHolds(guard: CountGuard, record: CircuitRecord): boolean {
  if (guard.state === 'open') return record.state === 'open';
  return record.state === 'closed' && record.consecutiveFailures <= guard.maxFailuresBefore;
}

/** Gauge value for `circuit_breaker_state`: 1 = open, 0.5 = half-open (probing), 0 = closed. */
export function stateGauge(state: CircuitState): number {
  return state === 'open' ? 1 : state === 'half-open' ? 0.5 : 0;
}

export interface CircuitViewModel {
  state: CircuitState;
  consecutiveFailures: number;
  openedAt?: string;
  retryAt?: string;
  openCount: number;
}

export function toView(record: CircuitRecord): CircuitViewModel {
  const view: CircuitViewModel = {
    state: record.state,
    consecutiveFailures: record.consecutiveFailures,
    openCount: record.openCount,
  };
  if (record.openedAt !== undefined && record.state !== 'closed') view.openedAt = iso(record.openedAt);
  if (record.state === 'open' && record.retryAtEpoch !== undefined) view.retryAt = iso(record.retryAtEpoch);
  if (record.state === 'half-open' && record.probeLeaseUntilEpoch !== undefined)
    view.retryAt = iso(record.probeLeaseUntilEpoch);
  return view;
}

function openedDetail(next: CircuitRecord, reason: 'threshold' | 'probe_failed') {
  return {
    reason,
    consecutiveFailures: next.consecutiveFailures,
    openStreak: next.openStreak,
    cooldownMs: (next.retryAtEpoch ?? 0) - (next.openedAt ?? 0),
    retryAt: iso(next.retryAtEpoch!),
  };
}

const iso = (ms: number) => new Date(ms).toISOString();
