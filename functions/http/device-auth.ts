/**
 * Device authentication: `Authorization: Bearer <deviceId>.<secret>`; the device's META item holds salted hashes
 * of its valid tokens (the current one, and the previous one during a rotation's overlap), compared in constant
 * time. Unknown device, malformed or wrong token → 401 (indistinguishable on purpose). A valid token used on
 * another device's path → 403. A device over its request budget → 429 with Retry-After.
 *
 * Cost per request (docs/architecture.md, "What protects the device API"): a token not shaped like one we issue is
 * refused with no read at all; a known device's hashes come from the per-container credentials cache
 * (./device-credentials-cache.ts), so a warm container reads META at most once a minute per device; an unknown
 * device id costs one small GetItem, then at most one per second per device id and container. All of it runs before the body is
 * parsed (the auth middleware precedes JSON parsing).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DeviceId } from '../contract/common.js';
import { getDeviceCredentials } from '../adapters/devices-repo.js';
import { config } from '../lib/config.js';
import { logger, metrics } from '../lib/observability.js';
import { matchToken, parseDeviceToken, type TokenMatch } from '../lib/token.js';
import { safeParse } from '../lib/validation.js';
import { CredentialsCache, DEFAULT_CREDENTIALS_CACHE } from './device-credentials-cache.js';
import { httpError } from './errors.js';
import { bearerToken, CHALLENGE } from './bearer.js';
import { RequestBudget } from './request-budget.js';
import type { ApiEvent, Principal } from './types.js';

let cache: CredentialsCache | undefined;
let budget: RequestBudget | undefined;

/** This container's credentials cache (created on first use, from config). */
export function credentialsCache(): CredentialsCache {
  cache ??= new CredentialsCache({ ...DEFAULT_CREDENTIALS_CACHE, ttlMs: config.deviceCredentialsCacheSeconds * 1000 });
  return cache;
}

function requestBudget(): RequestBudget {
  budget ??= new RequestBudget({ ...config.deviceRequestBudget, maxDevices: 10_000 });
  return budget;
}

/** Drop a device's cached hashes in this container (after it renewed its token here). */
export function forgetDeviceCredentials(deviceId: string): void {
  cache?.forget(deviceId);
}

export async function authenticateDevice(event: ApiEvent, pathDeviceId: string | undefined): Promise<Principal> {
  const parsed = parseDeviceToken(bearerToken(event));
  const invalid = () => httpError('unauthorized', 'Invalid device token', undefined, CHALLENGE);
  if (!parsed || !safeParse(DeviceId, parsed.deviceId).success) throw invalid();
  const now = Date.now();
  const match = await verify(parsed.deviceId, parsed.secret, now);
  if (!match) throw invalid();
  // Charged once the caller is known to be the device, so nobody can spend another device's budget.
  const spent = requestBudget().take(parsed.deviceId, now);
  if (!spent.ok) {
    metrics.addMetric('device_requests_over_budget', MetricUnit.Count, 1);
    throw httpError(
      'too_many_requests',
      `Device request budget exceeded; retry after ${spent.retryAfterSeconds} s`,
      { retryAfterSeconds: spent.retryAfterSeconds },
      { 'retry-after': String(spent.retryAfterSeconds) },
    );
  }
  if (pathDeviceId !== undefined && pathDeviceId !== parsed.deviceId) {
    logger.warn('device touched another device', {
      tokenDevice: parsed.deviceId,
      pathDevice: pathDeviceId.slice(0, 64),
    });
    throw httpError('forbidden', 'A device may only access its own resources');
  }
  return { kind: 'device', deviceId: parsed.deviceId, token: match };
}

/** Which valid token of the device this is: from the cache when it can say, else one GetItem (then cached). */
async function verify(deviceId: string, secret: string, now: number): Promise<TokenMatch | null> {
  const c = credentialsCache();
  const cached = c.fresh(deviceId, now);
  if (cached) {
    const match = cached.creds ? matchToken(secret, cached.creds, now) : null;
    if (match || !c.mayRefresh(cached, now)) {
      c.stats.hits++;
      metrics.addMetric('device_credentials_cache_hits', MetricUnit.Count, 1);
      return match;
    }
  }
  // A refusal by a cached entry re-reads consistently: the token may have been rotated a moment ago.
  const creds = await getDeviceCredentials(deviceId, cached !== undefined);
  c.stats.reads++;
  metrics.addMetric('device_credentials_reads', MetricUnit.Count, 1);
  c.put(deviceId, creds, now);
  return creds ? matchToken(secret, creds, now) : null;
}
