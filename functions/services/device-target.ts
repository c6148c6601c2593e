/**
 * The target a device is served, with the registry credentials its target names resolved for it. Every device
 * route that hands a device its target (GET /v1/devices/{id}/target, and any sync route) goes through here, so
 * credentials reach exactly the devices whose target names them, over their own authenticated channel, and
 * every such route computes the same ETag.
 *
 * Cost per device: one TARGET read (as before) + cached credential lookups (adapters/registry-credentials.ts:
 * Secrets Manager calls scale with warm Lambda environments × credentials, not with devices).
 */
import { getTarget } from '../adapters/devices-repo.js';
import { readRegistryCredential, type StoredRegistryCredential } from '../adapters/registry-credentials.js';
import type { RegistryAuth } from '../contract/registry.js';
import type { TargetStateDocument } from '../contract/target-state.js';
import { deviceTargetTag, ifNoneMatchHits } from '../domain/target-version.js';
import { logger } from '../lib/observability.js';

export type DeviceTargetAnswer =
  | { kind: 'none' }
  /** If-None-Match named the current tag. */
  | { kind: 'unchanged'; etag: string }
  | { kind: 'current'; etag: string; doc: TargetStateDocument; carriesCredentials: boolean };

/** The device's target for GET-style routes: 304-able by `ifNoneMatch`. */
export async function deviceTarget(deviceId: string, ifNoneMatch: string | undefined): Promise<DeviceTargetAnswer> {
  const stored = await getTarget(deviceId);
  if (!stored) return { kind: 'none' };
  const { tag, doc, carriesCredentials } = await resolveForDevice(stored);
  const etag = `"${tag}"`;
  if (ifNoneMatchHits(ifNoneMatch, tag)) return { kind: 'unchanged', etag };
  return { kind: 'current', etag, doc, carriesCredentials };
}

/**
 * A stored target (already read by the caller) as its device must get it: `registryAuth` holds the named
 * credentials that exist; `tag` is the entity tag (quote it for an ETag header). A credential that does not
 * exist any more (deleted after the target named it) is left out and logged by name: the device then pulls
 * anonymously and reports the registry's refusal, which names the credential.
 */
export async function resolveForDevice(
  stored: TargetStateDocument,
): Promise<{ tag: string; doc: TargetStateDocument; carriesCredentials: boolean }> {
  const base: TargetStateDocument = { version: stored.version, updatedAt: stored.updatedAt, target: stored.target };
  const names = stored.target.registryCredentials ?? [];
  if (!names.length) return { tag: stored.version, doc: base, carriesCredentials: false };
  const found = await Promise.all(names.map((n) => readRegistryCredential(n)));
  const registryAuth: Record<string, RegistryAuth> = {};
  const versions: [string, string | undefined][] = [];
  names.forEach((name, i) => {
    const c: StoredRegistryCredential | undefined = found[i];
    versions.push([name, c?.versionId]);
    if (c) registryAuth[name] = { registry: c.registry, username: c.username, password: c.password };
    else
      logger.warn('target names a registry credential that does not exist', {
        credential: name,
        targetVersion: stored.version,
      });
  });
  const carriesCredentials = Object.keys(registryAuth).length > 0;
  return {
    tag: deviceTargetTag(stored.version, versions),
    doc: carriesCredentials ? { ...base, registryAuth } : base,
    carriesCredentials,
  };
}
