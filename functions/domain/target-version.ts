/**
 * Target-state versions double as ETags. The version is a hash of the canonical target, so storing the
 * same target twice keeps its version (agents do not re-converge for nothing) and any change moves it.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from './report-merge.js';

export function targetVersion(target: unknown): string {
  return `t-${createHash('sha256').update(canonicalJson(target)).digest('hex').slice(0, 20)}`;
}

export const etagOf = (version: string) => `"${version}"`;

/** RFC 9110 If-None-Match: `*`, or a list of (possibly weak) entity tags. */
export function ifNoneMatchHits(ifNoneMatch: string | undefined, version: string): boolean {
  if (!ifNoneMatch) return false;
  const value = ifNoneMatch.trim();
  if (value === '*') return true;
  return value
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === etagOf(version) || t === version);
}

/**
 * The entity tag of a target as served to its device. Without registry credentials it is the version itself
 * (what agents already hold keeps matching). With them, the credentials' secret version ids are folded in, so
 * a rotated password changes the tag and the device re-fetches (gets 200) although the target did not change.
 * Version ids are opaque and reveal nothing of the values.
 */
export function deviceTargetTag(
  version: string,
  credentialVersions: ReadonlyArray<readonly [name: string, versionId: string | undefined]>,
): string {
  if (!credentialVersions.length) return version;
  const parts = [...credentialVersions].map(([n, v]) => `${n}=${v ?? '-'}`).sort();
  return `${version}.c-${createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16)}`;
}

/**
 * RFC 9110 If-Match: `*` holds when a target exists; otherwise a list of entity tags compared strongly (a weak
 * tag never matches), or a bare version as the CLI may send it. `current` undefined: no target stored yet.
 */
export function ifMatchHolds(ifMatch: string, current: string | undefined): boolean {
  const value = ifMatch.trim();
  if (value === '*') return current !== undefined;
  if (current === undefined) return false;
  return value
    .split(',')
    .map((t) => t.trim())
    .some((t) => t === etagOf(current) || t === current);
}
