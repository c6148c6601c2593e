/**
 * When reconcile cycles run: every interval, at once on `trigger()`, and never two at a time. Triggers that
 * arrive during a cycle coalesce into one follow-up cycle, at least `minCycleGapMs` after the last one ended.
 * What a cycle does is the caller's (agent.ts); so is how long to wait when nothing asks (`nextDelayMs`).
 */
import type { Clock } from './clock.js';

export interface CycleTimerOptions<T> {
  clock: Clock;
  minCycleGapMs: number;
  /** Runs one cycle for these reasons. */
  run(reasons: string[]): Promise<T>;
  /** Wait before the next cycle when nothing triggers one; undefined: no next cycle (`--once`). */
  nextDelayMs(): number | undefined;
  /** A cycle threw (the timer goes on). */
  onCrash(err: unknown): void;
}

export class CycleTimer<T> {
  private chain: Promise<unknown> = Promise.resolve();
  private pending = new Set<string>();
  private draining = false;
  private timer: NodeJS.Timeout | undefined;
  private lastCycleEnd = Number.NEGATIVE_INFINITY;
  private stopped = false;

  constructor(private readonly opts: CycleTimerOptions<T>) {}

  /** Runs one cycle now, after any running one, and returns its result. */
  runNow(reasons: string[]): Promise<T> {
    const run = this.chain.then(() => this.opts.run(reasons));
    this.chain = run.catch(() => {});
    return run;
  }

  /** Asks for a cycle as soon as possible (coalesced; never overlapping; at least minCycleGapMs apart). */
  trigger(reason: string): void {
    if (this.stopped) return;
    this.pending.add(reason);
    if (this.draining) return; // picked up right after the running cycle
    clearTimeout(this.timer);
    const wait = Math.max(0, this.lastCycleEnd + this.opts.minCycleGapMs - this.opts.clock.monoNow());
    this.timer = setTimeout(() => void this.drain(), wait);
  }

  /** The cycle ended now: the next one waits at least minCycleGapMs from here. */
  cycleEnded(): void {
    this.lastCycleEnd = this.opts.clock.monoNow();
  }

  /** Arms the timer for the next cycle nobody asked for. */
  scheduleNext(): void {
    if (this.stopped) return;
    const delay = this.opts.nextDelayMs();
    if (delay === undefined) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.drain(), Math.max(delay, this.opts.minCycleGapMs));
  }

  /** No further cycle starts; `idle()` then resolves once the running one (if any) has ended. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  idle(): Promise<unknown> {
    return this.chain;
  }

  private async drain(): Promise<void> {
    if (this.draining || this.stopped) return;
    this.draining = true;
    try {
      const reasons = this.pending.size ? [...this.pending] : ['timer'];
      this.pending.clear();
      await this.runNow(reasons).catch((err) => this.opts.onCrash(err));
    } finally {
      this.draining = false;
    }
    if (this.pending.size && !this.stopped) {
      const reasons = [...this.pending];
      this.pending.clear();
      for (const r of reasons) this.trigger(r);
    } else this.scheduleNext();
  }
}
