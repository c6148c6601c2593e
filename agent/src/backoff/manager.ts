/**
 * RetryManager: the backoff state of every step key (`image:<ref>`, `create:<service>`, `start:<service>`...).
 * Pure bookkeeping on a monotonic `now` passed in by the caller; no timers, no I/O.
 *
 * - A failure schedules the next attempt (policy.ts) and is reported on the services the key affects.
 * - A success stops gating the key at once but keeps its failure count until the service has run healthy for
 *   `healthyResetMs` (kubelet semantics): a step that flaps keeps backing off instead of starting over at 10 s.
 * - `resetService(name)` forgets everything about a service (target changed for it, `retry-now` job).
 * - Persistence stores *remaining* delays plus the wall time of the save (persist.ts), never monotonic values,
 *   which mean nothing in another process.
 */
import type { ServiceErrorType } from '#contract/report.js';
import { nextRetry, type BackoffPolicy, DEFAULT_BACKOFF_POLICY } from './policy.js';
import type { StepAction } from './errors.js';

export interface BackoffEntry {
  key: string;
  /** Services this key is reported on (an image can be shared). */
  services: string[];
  action: StepAction;
  /** Consecutive failures (reported as retryCount). */
  attempts: number;
  errorType: ServiceErrorType;
  message: string;
  permanent: boolean;
  quarantined: boolean;
  /** Wall ms of the last failure (display only). */
  lastFailureWall: number;
  /** Monotonic ms before which the step is not retried; null once the step succeeded. */
  nextRetryMono: number | null;
}

export interface FailureInput {
  action: StepAction;
  services: readonly string[];
  type: ServiceErrorType;
  message: string;
  permanent: boolean;
}

export class RetryManager {
  private readonly entries = new Map<string, BackoffEntry>();
  private readonly healthySince = new Map<string, number>();
  /** Bumped on every change so the agent persists only when something changed. */
  version = 0;

  constructor(readonly policy: BackoffPolicy = DEFAULT_BACKOFF_POLICY) {}

  recordFailure(key: string, failure: FailureInput, monoNow: number, wallNow: number): BackoffEntry {
    const prev = this.entries.get(key);
    const attempts = (prev?.attempts ?? 0) + 1;
    const decision = nextRetry(this.policy, attempts, failure.permanent);
    const services = [...new Set([...(prev?.services ?? []), ...failure.services])].sort();
    const entry: BackoffEntry = {
      key,
      services,
      action: failure.action,
      attempts,
      errorType: failure.type,
      message: failure.message,
      permanent: failure.permanent,
      quarantined: decision.quarantined,
      lastFailureWall: wallNow,
      nextRetryMono: monoNow + decision.delayMs,
    };
    this.entries.set(key, entry);
    for (const s of services) this.healthySince.delete(s);
    this.version++;
    return entry;
  }

  recordSuccess(key: string): void {
    const entry = this.entries.get(key);
    if (!entry || entry.nextRetryMono === null) return;
    this.version++;
    if (entry.services.length === 0) {
      // Container-scoped key (removing an orphan): nothing to report or reset later.
      this.entries.delete(key);
      return;
    }
    entry.nextRetryMono = null;
    entry.quarantined = false;
  }

  /** True while the key must not be attempted. */
  isWaiting(key: string, monoNow: number): boolean {
    const next = this.entries.get(key)?.nextRetryMono;
    return next != null && next > monoNow;
  }

  get(key: string): BackoffEntry | undefined {
    return this.entries.get(key);
  }

  /** Unresolved failures (not yet succeeded) that affect the service, newest failure first. */
  activeFor(service: string): BackoffEntry[] {
    return [...this.entries.values()]
      .filter((e) => e.nextRetryMono !== null && e.services.includes(service))
      .sort((a, b) => b.lastFailureWall - a.lastFailureWall);
  }

  /** key → monotonic time of the next allowed attempt, for every key still gated (the planner's input). */
  gates(monoNow: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const e of this.entries.values())
      if (e.nextRetryMono !== null && e.nextRetryMono > monoNow) out.set(e.key, e.nextRetryMono);
    return out;
  }

  /**
   * Earliest gate that opens after `monoNow` (the loop wakes then, so retries keep their schedule instead of
   * waiting for the next 30 s tick). Gates already open are not counted: a due key whose step is not planned
   * (manual stop, hold) must not make the loop spin.
   */
  nextDueAfter(monoNow: number): number | undefined {
    let min: number | undefined;
    for (const e of this.entries.values())
      if (e.nextRetryMono !== null && e.nextRetryMono > monoNow && (min === undefined || e.nextRetryMono < min))
        min = e.nextRetryMono;
    return min;
  }

  /** Forget a service's backoff: its target changed, or `retry-now`. Returns the number of keys cleared. */
  resetService(name: string): number {
    let n = 0;
    for (const [key, e] of this.entries) {
      if (!e.services.includes(name)) continue;
      const rest = e.services.filter((s) => s !== name);
      // A shared key (same image in two services) is retried at once but still reported on the others.
      if (rest.length === 0 || e.nextRetryMono === null) this.entries.delete(key);
      else {
        e.services = rest;
        e.nextRetryMono = Number.NEGATIVE_INFINITY; // due now
      }
      n++;
    }
    this.healthySince.delete(name);
    if (n) this.version++;
    return n;
  }

  resetAll(): void {
    if (this.entries.size) this.version++;
    this.entries.clear();
    this.healthySince.clear();
  }

  /**
   * Called every cycle per service: healthy = running the current target spec and passing its checks.
   * After `healthyResetMs` of uninterrupted health the service's backoff is forgotten (kubelet: 10 min).
   */
  noteHealth(service: string, healthy: boolean, monoNow: number): boolean {
    if (!healthy) {
      this.healthySince.delete(service);
      return false;
    }
    const since = this.healthySince.get(service);
    if (since === undefined) {
      this.healthySince.set(service, monoNow);
      return false;
    }
    if (
      monoNow - since >= this.policy.healthyResetMs &&
      [...this.entries.values()].some((e) => e.services.includes(service))
    ) {
      this.resetService(service);
      this.healthySince.set(service, monoNow);
      return true;
    }
    return false;
  }

  /** Drop keys of services that no longer exist in the target. */
  retainServices(names: ReadonlySet<string>): void {
    for (const [key, e] of this.entries) {
      if (e.services.length === 0) continue; // container-scoped (orphan removal)
      const keep = e.services.filter((s) => names.has(s));
      if (keep.length === 0) {
        this.entries.delete(key);
        this.version++;
      } else if (keep.length !== e.services.length) {
        e.services = keep;
        this.version++;
      }
    }
    for (const s of [...this.healthySince.keys()]) if (!names.has(s)) this.healthySince.delete(s);
  }

  all(): BackoffEntry[] {
    return [...this.entries.values()];
  }

  /** Used by persist.ts on load. */
  load(entries: BackoffEntry[]): void {
    this.entries.clear();
    for (const e of entries) this.entries.set(e.key, e);
    this.version++;
  }
}
