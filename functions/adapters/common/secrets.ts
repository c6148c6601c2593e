/**
 * Secret values from Secrets Manager, fetched on first use and cached for the life of the process
 * (a Lambda execution environment). Never logged. A failed fetch is not cached, so the next call retries.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { tracer } from '../../lib/observability.js';

let client: SecretsManagerClient | undefined;
const cache = new Map<string, Promise<string>>();

// Traced like every AWS client: X-Ray records the operation, never the secret id's value or the response.
const secrets = () =>
  (client ??= tracer.captureAWSv3Client(
    new SecretsManagerClient({ requestHandler: { requestTimeout: 3000, connectionTimeout: 1000 } }),
  ));

export function getSecretString(secretId: string): Promise<string> {
  let pending = cache.get(secretId);
  if (!pending) {
    pending = secrets()
      .send(new GetSecretValueCommand({ SecretId: secretId }))
      .then((res) => {
        if (typeof res.SecretString !== 'string' || res.SecretString === '')
          throw new Error(`secret ${secretId} has no string value`);
        return res.SecretString;
      });
    pending.catch(() => cache.delete(secretId));
    cache.set(secretId, pending);
  }
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
