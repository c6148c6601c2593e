/**
 * Stable hash of a ServiceSpec: the container carries it as a label, and a different hash means the spec
 * changed → recreate. Canonical JSON (sorted keys) so that key order in the target file does not matter.
 */
import { createHash } from 'node:crypto';
import type { ServiceSpec } from '#contract/target-state.js';

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The health check, dependencies and alert routing (notifyOnFail) are not part of the container: changing them must
 * not recreate it.
 */
export function specHash(spec: ServiceSpec): string {
  const { healthCheck: _h, dependsOn: _d, notifyOnFail: _n, ...container } = spec;
  return createHash('sha256').update(canonicalJson(container)).digest('hex').slice(0, 16);
}

/** Hash of the whole spec (health check and dependencies included): a change resets the service's backoff. */
export function fullSpecHash(spec: ServiceSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex').slice(0, 16);
}
