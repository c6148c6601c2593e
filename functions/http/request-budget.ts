/**
 * Per-device request budget: a token bucket per device id, in the memory of each API container, so enforcing it
 * costs no DynamoDB write per request. A device over its budget gets 429 with Retry-After; other devices, whose
 * buckets are separate, are unaffected.
 *
 * The bound, stated: each warm container lets one device make at most `burst` requests at once and then
 * `ratePerSecond` per second; API Gateway spreads a device's requests over the warm containers, so across C
 * containers a device gets at most C times that. That is a cap on abuse, not an exact quota (which would need a
 * shared counter: a DynamoDB write per request, the cost this avoids). Only authenticated devices get a bucket,
 * and the number of buckets is bounded (least recently used dropped: a dropped bucket restarts full).
 */
export interface RequestBudgetOptions {
  ratePerSecond: number;
  burst: number;
  maxDevices: number;
}

/**
 * Defaults (functions/lib/config.ts): 120 at once, then 2 per second. An idle agent makes ~10 requests a minute and
 * at most a few per second while it works through jobs, so a well-behaved device never meets it.
 */
export const DEFAULT_REQUEST_BUDGET: RequestBudgetOptions = { ratePerSecond: 2, burst: 120, maxDevices: 10_000 };

interface Bucket {
  tokens: number;
  at: number;
}

export type BudgetDecision = { ok: true } | { ok: false; retryAfterSeconds: number };

export class RequestBudget {
  private readonly buckets = new Map<string, Bucket>();

  constructor(readonly opts: RequestBudgetOptions = DEFAULT_REQUEST_BUDGET) {}

  /** Spend one request of `deviceId`'s budget at `now` (epoch ms). */
  take(deviceId: string, now: number): BudgetDecision {
    const { ratePerSecond, burst } = this.opts;
    const previous = this.buckets.get(deviceId);
    const elapsed = previous ? Math.max(0, now - previous.at) / 1000 : 0;
    const tokens = previous ? Math.min(burst, previous.tokens + elapsed * ratePerSecond) : burst;
    this.buckets.delete(deviceId);
    if (tokens < 1) {
      this.buckets.set(deviceId, { tokens, at: now });
      this.evict();
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / ratePerSecond)) };
    }
    this.buckets.set(deviceId, { tokens: tokens - 1, at: now });
    this.evict();
    return { ok: true };
  }

  private evict(): void {
    while (this.buckets.size > this.opts.maxDevices) this.buckets.delete(this.buckets.keys().next().value!);
  }
}
