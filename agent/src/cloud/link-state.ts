/**
 * Is the cloud API reachable, and when may the agent talk to it (pure; monotonic `now`, injected randomness).
 *
 * - A call that fails for the transport's sake (network error, timeout, 5xx, 429) makes the link offline.
 *   While offline, the agent only probes, with exponential backoff and full jitter (1 s … 5 min): a fleet
 *   whose API went away does not hammer it, and does not come back in lock-step.
 * - The first successful call after being offline is a reconnect: the agent waits a random
 *   `reconnectJitterMs` before flushing its buffer and sending the full report, so a whole fleet that
 *   reconnects together (the API came back) spreads its catch-up traffic instead of stampeding.
 * - Offline is never a reason to restart anything: containers keep running, reconciliation goes on from the
 *   last known target, reports wait in the on-disk buffer.
 */

export interface LinkConfig {
  probeBaseMs: number;
  probeMaxMs: number;
  reconnectJitterMs: number;
}

export const DEFAULT_LINK_CONFIG: LinkConfig = { probeBaseMs: 1000, probeMaxMs: 300_000, reconnectJitterMs: 15_000 };

export class LinkState {
  private online = true;
  private failures = 0;
  private nextProbeAt = Number.NEGATIVE_INFINITY;
  private quietUntil = Number.NEGATIVE_INFINITY;
  /** Reconnects seen (for logs and tests). */
  reconnects = 0;

  constructor(
    private readonly config: LinkConfig = DEFAULT_LINK_CONFIG,
    private readonly random: () => number = Math.random,
  ) {}

  get isOnline(): boolean {
    return this.online;
  }

  /** May the agent send reports/job updates now (online, and past any post-reconnect jitter)? */
  canSend(now: number): boolean {
    return this.online && now >= this.quietUntil;
  }

  /** While offline: may the agent probe the API now? */
  canProbe(now: number): boolean {
    return !this.online && now >= this.nextProbeAt;
  }

  /** When the link may next do something it is waiting for (the send window or the next probe). */
  nextAt(): number {
    return this.online ? this.quietUntil : this.nextProbeAt;
  }

  /** A transport-level failure. */
  failed(now: number): void {
    this.online = false;
    const ceiling = Math.min(this.config.probeMaxMs, this.config.probeBaseMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    this.nextProbeAt = now + Math.max(this.config.probeBaseMs / 2, Math.floor(this.random() * ceiling));
  }

  /** Any answer from the API (even a 4xx) proves it is reachable. Returns true when this is a reconnect. */
  succeeded(now: number): boolean {
    const wasOffline = !this.online;
    this.online = true;
    this.failures = 0;
    if (wasOffline) {
      this.reconnects++;
      this.quietUntil = now + Math.floor(this.random() * this.config.reconnectJitterMs);
    }
    return wasOffline;
  }
}
