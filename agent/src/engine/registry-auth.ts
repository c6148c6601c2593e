/**
 * Registry credentials on the device: what the cloud delivered with the target (TargetStateDocument.registryAuth),
 * keyed by registry so any image reference (target services, pull-image jobs, the disk pre-check) finds its own.
 *
 * Held in memory only, never written to the state directory: target.json / rollout.json keep the credential
 * NAMES the target carries, not the values, so a copied disk or state backup reveals no registry password. The
 * price: after a restart the agent has no credentials until its first target fetch (which it makes before the
 * first cycle, see cloud/module.ts); images already present keep running, and a pull that failed meanwhile is
 * retried as soon as the credentials arrive (`replace` returns the registries whose credentials changed).
 */
import { registryKey, type RegistryAuth } from '#contract/registry.js';
import { parseImageRef } from './disk.js';

/** What the engine's X-Registry-Auth carries (dockerode's `authconfig`). */
export interface EngineAuth {
  username: string;
  password: string;
  serveraddress: string;
}

export interface ImageAuth {
  /** The credential's name in the target (for messages; never its value). */
  name: string;
  auth: EngineAuth;
}

/** The registry part of an image reference, normalised (Docker Hub is `docker.io`). */
export function registryOfImage(ref: string): string {
  return registryKey(parseImageRef(ref).registry);
}

export class RegistryCredentials {
  private byRegistry = new Map<string, { name: string; registry: string; username: string; password: string }>();

  /**
   * Replaces every credential with the delivered set (name → credential). Returns the registries whose
   * credential appeared, changed or went away: pulls from them deserve a new try.
   */
  replace(delivered: Record<string, RegistryAuth> | undefined): string[] {
    const next = new Map<string, { name: string; registry: string; username: string; password: string }>();
    // Sorted by name: with two credentials for one registry (a mistake), the same one wins every time.
    for (const [name, c] of Object.entries(delivered ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      const key = registryKey(c.registry);
      if (!next.has(key)) next.set(key, { name, registry: c.registry, username: c.username, password: c.password });
    }
    const changed: string[] = [];
    for (const key of new Set([...this.byRegistry.keys(), ...next.keys()])) {
      const a = this.byRegistry.get(key);
      const b = next.get(key);
      if (a?.name !== b?.name || a?.username !== b?.username || a?.password !== b?.password) changed.push(key);
    }
    this.byRegistry = next;
    return changed;
  }

  /** The credential for the image's registry, if one was delivered. */
  forImage(ref: string): ImageAuth | undefined {
    const c = this.byRegistry.get(registryOfImage(ref));
    if (!c) return undefined;
    // Docker Hub's X-Registry-Auth server address is its legacy index URL; others are the host itself.
    const serveraddress = registryKey(c.registry) === 'docker.io' ? 'https://index.docker.io/v1/' : c.registry;
    return { name: c.name, auth: { username: c.username, password: c.password, serveraddress } };
  }

  /** Registries with a credential (status output: names of registries, never values). */
  registries(): string[] {
    return [...this.byRegistry.keys()].sort();
  }
}
