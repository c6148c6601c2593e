/**
 * Per-container cache of device credentials (the salted hashes of a device's valid tokens, never a token), so a
 * device's requests do not each cost a DynamoDB read. Bounded in size (least recently used entries go first) and
 * in age, which is what bounds revocation:
 *
 *   - a verified token keeps being accepted by a warm container for at most `ttlMs` after its device was
 *     decommissioned or rotated with no overlap (the entry is re-read once it is older than that);
 *   - a token the cached entry does not accept (a token rotated in meanwhile, a device registered after its id was
 *     last probed) triggers a re-read, but at most once per `minRefreshMs` per device id, so a caller repeating a
 *     wrong secret for a real device costs at most one read per device id per `minRefreshMs` per container.
 *
 * An absent device is cached too (`creds: undefined`), under the same rules.
 */
import type { StoredCredentials } from '../lib/token.js';

export interface CredentialsCacheOptions {
  maxEntries: number;
  ttlMs: number;
  minRefreshMs: number;
}

/** Defaults: 60 s revocation bound, 1 s refresh floor, ~10,000 devices (~2 MB) per container. */
export const DEFAULT_CREDENTIALS_CACHE: CredentialsCacheOptions = {
  maxEntries: 10_000,
  ttlMs: 60_000,
  minRefreshMs: 1_000,
};

export interface CachedCredentials {
  creds: StoredCredentials | undefined;
  fetchedAt: number;
}

export class CredentialsCache {
  private readonly entries = new Map<string, CachedCredentials>();
  /** Requests answered from the cache / that needed a read: the saving, measured. */
  readonly stats = { hits: 0, reads: 0 };

  constructor(readonly opts: CredentialsCacheOptions = DEFAULT_CREDENTIALS_CACHE) {}

  /** The entry for a device, if fresh enough to be trusted at `now`. */
  fresh(deviceId: string, now: number): CachedCredentials | undefined {
    const entry = this.entries.get(deviceId);
    if (!entry) return undefined;
    if (now - entry.fetchedAt >= this.opts.ttlMs || now < entry.fetchedAt) {
      this.entries.delete(deviceId);
      return undefined;
    }
    // Map order is insertion order: re-inserting marks it most recently used.
    this.entries.delete(deviceId);
    this.entries.set(deviceId, entry);
    return entry;
  }

  /** May a refused token make us re-read this device now? */
  mayRefresh(entry: CachedCredentials, now: number): boolean {
    return now - entry.fetchedAt >= this.opts.minRefreshMs;
  }

  put(deviceId: string, creds: StoredCredentials | undefined, now: number): void {
    if (this.opts.ttlMs <= 0) return;
    this.entries.delete(deviceId);
    this.entries.set(deviceId, { creds, fetchedAt: now });
    while (this.entries.size > this.opts.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  forget(deviceId: string): void {
    this.entries.delete(deviceId);
  }

  get size(): number {
    return this.entries.size;
  }
}
