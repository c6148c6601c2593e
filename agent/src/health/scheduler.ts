/**
 * Runs every service's health check on its own interval with ONE timer for all of them: the timer is armed
 * for the earliest due check, fires, starts what is due (bounded concurrency), and re-arms. An idle agent with
 * ten checks therefore wakes only when a check is due and allocates nothing between wakes.
 *
 * Timing is monotonic (clock.monoNow). After a (re)start a service's first check runs when its startup delay
 * ends, which is also the "wait, then re-check" after a recovery restart.
 */
import type { HealthCheckResult } from '#contract/report.js';
import type { HealthCheckSpec } from '#contract/target-state.js';
import type { Clock } from '../clock.js';
import { newTrack, recordOutcome, restarted, sameSpec, type CheckOutcome, type HealthTrack } from './tracker.js';

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}
const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export type RunCheck = (containerId: string, spec: HealthCheckSpec) => Promise<CheckOutcome>;

export interface HealthSchedulerOptions {
  clock: Clock;
  runCheck: RunCheck;
  /** Called after every check with the new result (e.g. to let recovery decide at once). */
  onResult?: (service: string, result: HealthCheckResult, track: HealthTrack) => void;
  /** Called instead of onResult for a check that could not be run (the track is unchanged). */
  onUnknown?: (service: string, outcome: CheckOutcome, track: HealthTrack) => void;
  /** Checks in flight at once. */
  concurrency?: number;
  timers?: Timers;
}

interface Entry {
  name: string;
  containerId: string;
  track: HealthTrack;
  dueAt: number;
  inFlight: boolean;
  /** Bumped on every (re)start, so a check that straddled a restart is not counted. */
  gen: number;
  waiters: Array<(r: HealthCheckResult | null) => void>;
}

export class HealthScheduler {
  private readonly entries = new Map<string, Entry>();
  private timer: unknown = null;
  private armedFor = Number.POSITIVE_INFINITY;
  private inFlight = 0;
  private stopped = false;
  private readonly timers: Timers;
  private readonly concurrency: number;

  constructor(private readonly opts: HealthSchedulerOptions) {
    this.timers = opts.timers ?? realTimers;
    this.concurrency = opts.concurrency ?? 4;
  }

  /**
   * Adds or updates a service's check. A new container id or a changed spec starts a fresh track (startup
   * delay from `startedAt`, a monotonic time); the same container and spec keep their history.
   */
  upsert(name: string, containerId: string, spec: HealthCheckSpec, startedAt = this.opts.clock.monoNow()): void {
    const e = this.entries.get(name);
    if (e && e.containerId === containerId && sameSpec(e.track.spec, spec)) return;
    const track = newTrack(spec, startedAt);
    if (e) {
      e.containerId = containerId;
      e.track = track;
      e.gen++;
      e.dueAt = track.graceUntil;
    } else {
      this.entries.set(name, {
        name,
        containerId,
        track,
        dueAt: track.graceUntil,
        inFlight: false,
        gen: 0,
        waiters: [],
      });
    }
    this.arm();
  }

  /** The container was (re)started at `at` (monotonic): nothing counts until the startup delay is over. */
  restarted(name: string, at = this.opts.clock.monoNow(), containerId?: string): void {
    const e = this.entries.get(name);
    if (!e) return;
    if (containerId) e.containerId = containerId;
    restarted(e.track, at);
    e.gen++;
    e.dueAt = e.track.graceUntil;
    this.arm();
  }

  remove(name: string): void {
    if (this.entries.delete(name)) this.arm();
  }

  /** Keep only these services (the rest left the target or lost their health check). */
  retain(names: Iterable<string>): void {
    const keep = new Set(names);
    for (const name of [...this.entries.keys()]) if (!keep.has(name)) this.entries.delete(name);
    this.arm();
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  track(name: string): HealthTrack | undefined {
    return this.entries.get(name)?.track;
  }

  /** The containers checked now. */
  containerIds(): Set<string> {
    const ids = new Set<string>();
    for (const e of this.entries.values()) ids.add(e.containerId);
    return ids;
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** Every check is due now (the engine is back after an outage: what happened meanwhile is learnt at once). */
  allDueNow(): void {
    const now = this.opts.clock.monoNow();
    for (const e of this.entries.values()) if (e.dueAt > now && e.track.graceUntil <= now) e.dueAt = now;
    this.armedFor = Number.NaN; // re-arm even if the earliest due time did not change
    this.arm();
  }

  /** Runs the check now, out of schedule (run-health-check job); resolves with its result. */
  checkNow(name: string): Promise<HealthCheckResult | null> {
    const e = this.entries.get(name);
    if (!e) return Promise.resolve(null);
    return new Promise((resolve) => {
      e.waiters.push(resolve);
      if (!e.inFlight) this.start(e);
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  private arm(): void {
    if (this.stopped) return;
    // At the concurrency limit the next completion re-arms; arming now would only spin.
    if (this.inFlight >= this.concurrency) {
      if (this.timer !== null) this.timers.clearTimeout(this.timer);
      this.timer = null;
      this.armedFor = Number.POSITIVE_INFINITY;
      return;
    }
    let next = Number.POSITIVE_INFINITY;
    for (const e of this.entries.values()) if (!e.inFlight && e.dueAt < next) next = e.dueAt;
    if (next === this.armedFor) return;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = next;
    if (next === Number.POSITIVE_INFINITY) return;
    const delay = Math.max(0, Math.ceil(next - this.opts.clock.monoNow()));
    this.timer = this.timers.setTimeout(() => this.fire(), delay);
  }

  private fire(): void {
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.opts.clock.monoNow();
    for (const e of this.entries.values()) {
      if (this.inFlight >= this.concurrency) break;
      if (!e.inFlight && e.dueAt <= now) this.start(e);
    }
    this.arm();
  }

  private start(e: Entry): void {
    e.inFlight = true;
    this.inFlight++;
    const startedAt = this.opts.clock.monoNow();
    const { containerId, track, gen } = e;
    this.opts
      .runCheck(containerId, track.spec)
      .catch(
        (err: unknown): CheckOutcome => ({
          healthy: false,
          message: `check crashed: ${(err as Error).message}`,
          durationMs: 0,
        }),
      )
      .then((outcome) => {
        e.inFlight = false;
        this.inFlight--;
        const now = this.opts.clock.monoNow();
        // A result for a container or spec that was replaced while the check ran is dropped.
        const current =
          this.entries.get(e.name) === e && e.gen === gen && e.track === track && e.containerId === containerId;
        let result: HealthCheckResult | null = null;
        let unknown = false;
        if (current) {
          result = recordOutcome(track, outcome, now, new Date(this.opts.clock.wallNow()).toISOString());
          unknown = result === null;
          e.dueAt = startedAt + track.spec.intervalSeconds * 1000;
          if (e.dueAt <= now) e.dueAt = now + track.spec.intervalSeconds * 1000;
        }
        const waiters = e.waiters.splice(0);
        for (const w of waiters) w(result ?? track.last);
        if (result) this.opts.onResult?.(e.name, result, track);
        else if (unknown) this.opts.onUnknown?.(e.name, outcome, track);
        this.arm();
      });
  }
}
