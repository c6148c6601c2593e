/**
 * Is the engine there at all? Telling "the engine said no" from "the engine could not be asked" is what keeps
 * an engine outage (socket gone, daemon restarting, calls timing out) from being read as failing services:
 * a health check that could not run is unknown, and a recovery action that could not reach the engine spends
 * no recovery budget (docs/architecture.md, "Engine outages").
 *
 * `EngineWatch` holds one up/down flag for the whole agent. Anything that meets an unreachable engine marks
 * it down; while down, one ping (with a deadline) every `probeEveryMs` looks for it, and the moment it answers
 * the listeners run (recovery re-checks everything at once, the loop reconciles, the event stream reconnects).
 */
import type Docker from 'dockerode';

const UNREACHABLE_CODES = new Set([
  'ENOENT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTCONN',
  'EENGINETIMEOUT',
]);

/** An engine call that did not answer within its deadline. */
export class EngineTimeoutError extends Error {
  readonly code = 'EENGINETIMEOUT';
  constructor(what: string, ms: number) {
    super(`engine did not answer ${what} within ${ms} ms`);
    this.name = 'EngineTimeoutError';
  }
}

/**
 * The error says the engine could not be asked (connection refused, socket missing or reset, no answer in
 * time), as opposed to an answer from the engine (404, 409, 500 ...). Looks through `cause` chains.
 */
export function isEngineUnreachable(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; message?: unknown; cause?: unknown; statusCode?: unknown } | null | undefined,
      depth = 0;
    e && depth < 5;
    e = e.cause as typeof e, depth++
  ) {
    if (typeof e.statusCode === 'number') return false; // the engine answered
    if (typeof e.code === 'string' && UNREACHABLE_CODES.has(e.code)) return true;
    if (
      typeof e.message === 'string' &&
      /socket hang up|connect (ENOENT|ECONNREFUSED)|\bEPIPE\b|ECONNRESET/.test(e.message)
    )
      return true;
  }
  return false;
}

/** Rejects with EngineTimeoutError when `p` has not settled within `ms` (the call itself is left to its own timeout). */
export function withEngineDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new EngineTimeoutError(what, ms)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

export interface EngineWatchOptions {
  docker: Docker;
  /** Ping interval while the engine is down. */
  probeEveryMs?: number;
  /** Deadline of each ping. */
  pingTimeoutMs?: number;
  onDown?: (reason: string) => void;
  onUp?: (downForMs: number) => void;
}

export class EngineWatch {
  private down: { since: number; reason: string } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private probing = false;
  private stopped = false;
  private readonly backListeners = new Set<() => void>();

  constructor(private readonly opts: EngineWatchOptions) {}

  isDown(): boolean {
    return this.down !== null;
  }

  /** Why it is down, while it is. */
  reason(): string | undefined {
    return this.down?.reason;
  }

  /** Called once each time the engine answers again after an outage. Returns an unsubscribe function. */
  onBack(fn: () => void): () => void {
    this.backListeners.add(fn);
    return () => this.backListeners.delete(fn);
  }

  /** Something could not reach the engine: start looking for it. Idempotent while down. */
  markDown(reason: string): void {
    if (this.stopped || this.down) return;
    this.down = { since: performance.now(), reason };
    this.opts.onDown?.(reason);
    this.schedule();
  }

  /** A call just succeeded: if the engine was marked down, it is back now (without waiting for the next ping). */
  markUp(): void {
    if (!this.down) return;
    const downFor = performance.now() - this.down.since;
    this.down = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.opts.onUp?.(downFor);
    for (const fn of [...this.backListeners]) {
      try {
        fn();
      } catch {
        /* a listener's failure is its own business */
      }
    }
  }

  /** Pings now (deadline included); true when the engine answered. Marks the flag either way. */
  async probe(): Promise<boolean> {
    try {
      await withEngineDeadline(this.opts.docker.ping(), this.opts.pingTimeoutMs ?? 5000, 'ping');
      this.markUp();
      return true;
    } catch (err) {
      this.markDown(`ping failed: ${(err as Error).message}`);
      return false;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.stopped || this.timer || !this.down) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.probing) return;
      this.probing = true;
      void this.probe().finally(() => {
        this.probing = false;
        this.schedule();
      });
    }, this.opts.probeEveryMs ?? 1000);
    this.timer.unref();
  }
}
