/**
 * When to produce a report (pure; monotonic `now` in ms).
 *
 * - delta: something significant changed; at most one report per `minIntervalMs` (10 s), so a flapping
 *   service costs the API one write per 10 s, not one per health check.
 * - heartbeat: nothing changed for `heartbeatMs` (30 s): an empty delta, the device's sign of life.
 * - full: every service; at start, after a reconnect, after a sequence jump, and every `fullEveryMs`, so the
 *   cloud converges even when deltas were dropped from the bounded offline buffer.
 * While the API is unreachable no heartbeats are produced (a sign of life that arrives late says nothing);
 * changes still produce deltas, which are buffered on disk and delivered in order later.
 */

export interface ReportScheduleConfig {
  minIntervalMs: number;
  heartbeatMs: number;
  fullEveryMs: number;
}

export const DEFAULT_REPORT_SCHEDULE: ReportScheduleConfig = {
  minIntervalMs: 10_000,
  heartbeatMs: 30_000,
  fullEveryMs: 15 * 60_000,
};

export type ReportKindDue = 'full' | 'delta' | 'heartbeat';

export class ReportScheduler {
  private lastAt = Number.NEGATIVE_INFINITY;
  private lastFullAt = Number.NEGATIVE_INFINITY;
  private changed = false;
  private fullWanted = true; // the first report after start is full

  constructor(private readonly config: ReportScheduleConfig = DEFAULT_REPORT_SCHEDULE) {}

  /** Something significant changed (the caller compares projections, see report-builder.ts). */
  markChanged(): void {
    this.changed = true;
  }

  /** The next report must be a full one (reconnect, sequence jump). */
  requestFull(): void {
    this.fullWanted = true;
  }

  get pendingChange(): boolean {
    return this.changed;
  }

  /** What, if anything, to produce now. `online`: the API answered lately (no heartbeats while it does not). */
  due(now: number, online: boolean): ReportKindDue | null {
    if (now - this.lastAt < this.config.minIntervalMs) return null;
    if (this.fullWanted || now - this.lastFullAt >= this.config.fullEveryMs) return 'full';
    if (this.changed) return 'delta';
    if (online && now - this.lastAt >= this.config.heartbeatMs) return 'heartbeat';
    return null;
  }

  produced(kind: ReportKindDue, now: number): void {
    this.lastAt = now;
    this.changed = false;
    if (kind === 'full') {
      this.fullWanted = false;
      this.lastFullAt = now;
    }
  }

  /** When the throttle window of the last report ends (change detection is pointless before). */
  throttleEndsAt(): number {
    return this.lastAt + this.config.minIntervalMs;
  }

  /** The earliest time `due` may say yes (for arming the one timer); Infinity when nothing can be due. */
  nextAt(online: boolean): number {
    const throttleEnd = this.lastAt + this.config.minIntervalMs;
    if (this.fullWanted || this.changed) return throttleEnd;
    const candidates = [this.lastFullAt + this.config.fullEveryMs];
    if (online) candidates.push(this.lastAt + this.config.heartbeatMs);
    return Math.max(throttleEnd, Math.min(...candidates));
  }
}
