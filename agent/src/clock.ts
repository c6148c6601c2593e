/**
 * Time, split in two on purpose:
 * - `monoNow()` (ms, monotonic, arbitrary origin) for every delay, timeout, window and schedule. A device
 *   clock that jumps (NTP sync after boot, RTC battery gone) must neither stall nor storm retries.
 * - `wallNow()` (epoch ms) only for what people and the cloud read: report timestamps, `nextRetry` as ISO,
 *   and the wall anchor persisted next to relative delays (see backoff/persist.ts).
 * Pure code takes `now` as an argument; the clock is injected where time is read.
 */
import { performance } from 'node:perf_hooks';

export interface Clock {
  monoNow(): number;
  wallNow(): number;
}

export const systemClock: Clock = {
  monoNow: () => performance.now(),
  wallNow: () => Date.now(),
};

/** Translates a monotonic instant into wall time as seen now (for display only). */
export function monoToWall(clock: Clock, mono: number): number {
  return clock.wallNow() + (mono - clock.monoNow());
}

export function monoToIso(clock: Clock, mono: number): string {
  return new Date(monoToWall(clock, mono)).toISOString();
}

/** Deterministic clock for unit tests: `advance` moves both clocks, `jumpWall` only the wall clock. */
export class FakeClock implements Clock {
  constructor(
    private mono = 1_000_000,
    private wall = Date.parse('2030-01-01T00:00:00.000Z'),
  ) {}
  monoNow(): number {
    return this.mono;
  }
  wallNow(): number {
    return this.wall;
  }
  advance(ms: number): void {
    this.mono += ms;
    this.wall += ms;
  }
  jumpWall(ms: number): void {
    this.wall += ms;
  }
}
