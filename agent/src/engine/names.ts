/**
 * Container names: `<prefix><service>`. The default prefix carries the agent id (`fleetmedic_<agentId>_`), so
 * two agents on one engine (each with its own `--agent-id`) never compete for a name; `--name-prefix` sets it
 * explicitly (tests use unique prefixes).
 *
 * Agents before that default named containers `fleetmedic_<service>`. Ownership never depended on the name
 * (labels do: labels.ts), so such containers are still adopted; `legacyName` lets the agent rename them to the
 * new name once, which frees the old name for whoever needs it.
 */
export const DEFAULT_NAME_PREFIX = 'fleetmedic_';

export function defaultNamePrefix(agentId: string): string {
  return `${DEFAULT_NAME_PREFIX}${agentId}_`;
}

export function containerName(prefix: string, service: string): string {
  return `${prefix}${service}`;
}

/** The name an agent without the agent id in its default prefix gave this service's container. */
export function legacyName(service: string): string {
  return `${DEFAULT_NAME_PREFIX}${service}`;
}
