/**
 * Registry credentials as the device channel reads them: one Secrets Manager secret per credential, named
 * `<REGISTRY_SECRET_PREFIX><name>`, holding `{"registry","username","password"}` as JSON.
 *
 * Cached per execution environment for REGISTRY_CREDENTIAL_CACHE_SECONDS (default 300 s): every target poll
 * of every device needs the credentials its target names (their versions are part of the ETag), and Secrets
 * Manager is billed and throttled per call, so the cost must follow the number of warm Lambda environments
 * × credentials, not the number of devices. A rotation therefore reaches devices within that TTL plus their
 * poll interval. A failed read is not cached (the next poll retries); an absent secret is (briefly) cached.
 * Values are never logged: only names, and only by the caller.
 */
import {
  GetSecretValueCommand,
  type GetSecretValueCommandOutput,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { RegistryCredentialInput } from '../contract/registry.js';
import { config } from '../lib/config.js';

export interface StoredRegistryCredential {
  name: string;
  registry: string;
  username: string;
  password: string;
  /** Secrets Manager's version id of the value: changes with every rotation, reveals nothing. */
  versionId: string;
}

/** The secret exists but its value is not a credential (set by hand outside the API?). */
export class MalformedRegistryCredential extends Error {
  constructor(name: string) {
    super(`registry credential ${name} does not hold {registry, username, password}`);
    this.name = 'MalformedRegistryCredential';
  }
}

let client: SecretsManagerClient | undefined;
const secrets = () =>
  (client ??= new SecretsManagerClient({ requestHandler: { requestTimeout: 3000, connectionTimeout: 1000 } }));
const cache = new Map<string, { at: number; value: Promise<StoredRegistryCredential | undefined> }>();

export const registrySecretName = (name: string) => `${config.registrySecretPrefix}${name}`;

/** The credential called `name`, or undefined when no such secret exists. */
export function readRegistryCredential(name: string, now = Date.now()): Promise<StoredRegistryCredential | undefined> {
  const hit = cache.get(name);
  if (hit && now - hit.at < config.registryCredentialCacheSeconds * 1000) return hit.value;
  const value = fetchCredential(name);
  cache.set(name, { at: now, value });
  value.catch(() => {
    if (cache.get(name)?.value === value) cache.delete(name);
  });
  return value;
}

async function fetchCredential(name: string): Promise<StoredRegistryCredential | undefined> {
  let res: GetSecretValueCommandOutput;
  try {
    res = await secrets().send(new GetSecretValueCommand({ SecretId: registrySecretName(name) }));
  } catch (err) {
    if (err instanceof ResourceNotFoundException || (err as { name?: string }).name === 'ResourceNotFoundException')
      return undefined;
    throw err;
  }
  let parsed: ReturnType<typeof RegistryCredentialInput.safeParse> | undefined;
  try {
    parsed = RegistryCredentialInput.safeParse(JSON.parse(res.SecretString ?? ''));
  } catch {
    parsed = undefined;
  }
  // Neither the parse error nor the text goes anywhere: both could carry the value.
  if (!parsed?.success || !res.VersionId) throw new MalformedRegistryCredential(name);
  return { name, ...parsed.data, versionId: res.VersionId };
}

/** Tests and the local fleet: forget cached credentials (e.g. right after a rotation) and the client. */
export function resetRegistryCredentialCache(): void {
  cache.clear();
  client = undefined;
}
