/**
 * Ownership labels. The agent touches a container only when it carries BOTH `io.fleetmedic.owned=true` and
 * `io.fleetmedic.agent=<agentId>` (default `default`): one engine can then host several agents (or parallel
 * test runs with unique ids) without any of them touching the others' containers, and never anything a person
 * started by hand.
 */
export const LABEL_OWNED = 'io.fleetmedic.owned';
export const LABEL_AGENT = 'io.fleetmedic.agent';
export const LABEL_SERVICE = 'io.fleetmedic.service';
export const LABEL_SPEC_HASH = 'io.fleetmedic.spec-hash';
export const LABEL_TARGET_VERSION = 'io.fleetmedic.target-version';

export function ownershipLabels(agentId: string): Record<string, string> {
  return { [LABEL_OWNED]: 'true', [LABEL_AGENT]: agentId };
}

export function isOwned(labels: Record<string, string> | undefined, agentId: string): boolean {
  return (
    labels?.[LABEL_OWNED] === 'true' && labels?.[LABEL_AGENT] === agentId && typeof labels?.[LABEL_SERVICE] === 'string'
  );
}
