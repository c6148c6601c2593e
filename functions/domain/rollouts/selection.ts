/**
 * Which devices a rollout targets: a label selector (`site=north,role=pump`, every pair must match) or an
 * explicit list. The result is frozen when the rollout is created (docs/architecture.md "Rollouts"): a device
 * registered later is not swept in; start another rollout for it.
 */

export type LabelSelector = Readonly<Record<string, string>>;

/** Most devices one rollout may hold (the controller's cost per run is bounded by a wave, not by this). */
export const MAX_ROLLOUT_DEVICES = 10_000;

/** `a=b,c=d` → { a: 'b', c: 'd' }; throws with the offending part named. */
export function parseSelector(text: string): LabelSelector {
  const out: Record<string, string> = {};
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`selector part '${part}' is not key=value`);
    const key = part.slice(0, eq).trim();
    if (key in out) throw new Error(`selector names '${key}' twice`);
    out[key] = part.slice(eq + 1).trim();
  }
  if (!Object.keys(out).length) throw new Error('selector is empty');
  return out;
}

export const formatSelector = (s: LabelSelector) =>
  Object.entries(s)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

export function matchesSelector(
  labels: Readonly<Record<string, string>> | undefined,
  selector: LabelSelector,
): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** The frozen set in a stable order (device id), duplicates removed: the order stages take devices in. */
export function freezeDeviceSet(deviceIds: Iterable<string>): string[] {
  return [...new Set(deviceIds)].sort();
}

/** The set split into chunks stored as separate items (no single item holds 10,000 ids). */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
