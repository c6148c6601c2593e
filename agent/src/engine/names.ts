/** Container names: `<prefix><service>` (default prefix `fleetmedic_`; tests use unique prefixes). */
export const DEFAULT_NAME_PREFIX = 'fleetmedic_';

export function containerName(prefix: string, service: string): string {
  return `${prefix}${service}`;
}
