/**
 * Private registry credentials. Operators store one credential per registry in the cloud (Secrets Manager,
 * never in the target itself); a target refers to credentials by NAME (`TargetState.registryCredentials`),
 * and the cloud resolves those names only for the device the target belongs to, when that device fetches its
 * target (`TargetStateDocument.registryAuth`). docs/architecture.md "Private registries" has the whole path.
 */
import * as z from 'zod/mini';

/** Name of a stored credential (the last part of its Secrets Manager secret name). */
export const RegistryCredentialName = z
  .string()
  .check(z.regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes, 1-63 characters'))
  .register(z.globalRegistry, {
    id: 'RegistryCredentialName',
    description: 'Name of a registry credential stored in the cloud.',
  });
export type RegistryCredentialName = z.output<typeof RegistryCredentialName>;

/**
 * A registry host as it appears in image references: `ghcr.io`, `registry.example.com:5000`, `127.0.0.1:5001`;
 * `docker.io` for Docker Hub (images without a registry part).
 */
export const RegistryHost = z
  .string()
  .check(
    z.regex(
      /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?$/,
      'a registry host[:port] as in image references, e.g. ghcr.io or 127.0.0.1:5001',
    ),
    z.maxLength(255),
  )
  .register(z.globalRegistry, { id: 'RegistryHost' });

/** What an operator stores (PUT /v1/registry-credentials/{name}); the password never comes back. */
export const RegistryCredentialInput = z
  .strictObject({
    registry: RegistryHost,
    username: z.string().check(z.minLength(1), z.maxLength(256)),
    password: z.string().check(z.minLength(1), z.maxLength(8192)),
  })
  .register(z.globalRegistry, { id: 'RegistryCredentialInput' });
export type RegistryCredentialInput = z.output<typeof RegistryCredentialInput>;

/** The answer to storing a credential: what was stored where, never the secret. */
export const RegistryCredentialStored = z
  .object({ name: RegistryCredentialName, registry: RegistryHost, created: z.boolean(), updatedAt: z.string() })
  .register(z.globalRegistry, { id: 'RegistryCredentialStored' });

/** A resolved credential, as served to the one device whose target names it (X-Registry-Auth on the device). */
export const RegistryAuth = z
  .object({ registry: RegistryHost, username: z.string(), password: z.string() })
  .register(z.globalRegistry, { id: 'RegistryAuth' });
export type RegistryAuth = z.output<typeof RegistryAuth>;

/** Docker Hub goes by several names; one key per registry so the device matches image refs to credentials. */
export function registryKey(host: string): string {
  const h = host.toLowerCase();
  return h === 'docker.io' || h === 'index.docker.io' || h === 'registry-1.docker.io' ? 'docker.io' : h;
}
