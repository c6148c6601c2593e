/**
 * Secret values from Secrets Manager, fetched on first use and cached for SECRET_CACHE_MS in the process (a Lambda
 * execution environment), so a rotated value (webhook, operator token) is picked up within minutes without a
 * redeploy while a busy function still reads each secret a few times an hour at most. Never logged. A failed
 * fetch is not cached, so the next call retries.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { tracer } from '../../lib/observability.js';

let client: SecretsManagerClient | undefined;
const cache = new Map<string, { value: Promise<string>; until: number }>();
/** How long a fetched value is used before it is read again. */
export const SECRET_CACHE_MS = 5 * 60_000;

// Traced like every AWS client: X-Ray records the operation, never the secret id's value or the response.
const secrets = () =>
  (client ??= tracer.captureAWSv3Client(
    new SecretsManagerClient({ requestHandler: { requestTimeout: 3000, connectionTimeout: 1000 } }),
  ));

export function getSecretString(secretId: string, now = Date.now()): Promise<string> {
  const hit = cache.get(secretId);
  if (hit && hit.until > now) return hit.value;
  const pending = secrets()
    .send(new GetSecretValueCommand({ SecretId: secretId }))
    .then((res) => {
      if (typeof res.SecretString !== 'string' || res.SecretString === '')
        throw new Error(`secret ${secretId} has no string value`);
      return res.SecretString;
    });
  pending.catch(() => {
    if (cache.get(secretId)?.value === pending) cache.delete(secretId);
  });
  cache.set(secretId, { value: pending, until: now + SECRET_CACHE_MS });
  return pending;
}

/** Forget one secret's cached value (its webhook was refused: the next read picks up a fixed value). */
export function forgetSecret(secretId: string): void {
  cache.delete(secretId);
}

/** For tests and the local fleet: forget cached values and the client (e.g. after a secret rotation). */
export function resetSecretCache(): void {
  cache.clear();
  client = undefined;
}
