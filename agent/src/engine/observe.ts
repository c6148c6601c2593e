/**
 * What the engine runs that this agent owns (label filter on the engine side, checked again here), and which
 * of the target's images are present. Used after an agent restart too: whatever it finds with its labels it
 * adopts, so it never creates a duplicate nor leaves an orphan.
 */
import type Docker from 'dockerode';
import { LABEL_AGENT, LABEL_OWNED, LABEL_SERVICE, LABEL_SPEC_HASH, LABEL_TARGET_VERSION, isOwned } from '../labels.js';
import type { ContainerState, ObservedContainer } from '../planner/types.js';

const STATES = new Set<ContainerState>([
  'created',
  'running',
  'paused',
  'restarting',
  'removing',
  'exited',
  'dead',
  'stopped',
]);

export async function listOwnedContainers(docker: Docker, agentId: string): Promise<ObservedContainer[]> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`${LABEL_OWNED}=true`, `${LABEL_AGENT}=${agentId}`] },
  });
  return list
    .filter((c) => isOwned(c.Labels, agentId))
    .map((c) => ({
      id: c.Id,
      name: (c.Names?.[0] ?? '').replace(/^\//, ''),
      service: c.Labels[LABEL_SERVICE]!,
      specHash: c.Labels[LABEL_SPEC_HASH] ?? '',
      targetVersion: c.Labels[LABEL_TARGET_VERSION],
      image: c.Image,
      state: STATES.has(c.State as ContainerState) ? (c.State as ContainerState) : 'unknown',
      created: c.Created,
      owned: true,
    }));
}

/** Which of `refs` the engine has (inspect resolves short names the same way create does). */
export async function presentImages(docker: Docker, refs: Iterable<string>): Promise<Set<string>> {
  const out = new Set<string>();
  await Promise.all(
    [...new Set(refs)].map(async (ref) => {
      try {
        await docker.getImage(ref).inspect();
        out.add(ref);
      } catch {
        /* absent (404) or unknown: the planner pulls it */
      }
    }),
  );
  return out;
}

export interface Observation {
  containers: ObservedContainer[];
  presentImages: Set<string>;
}

export async function observe(docker: Docker, agentId: string, targetImages: Iterable<string>): Promise<Observation> {
  const [containers, images] = await Promise.all([
    listOwnedContainers(docker, agentId),
    presentImages(docker, targetImages),
  ]);
  return { containers, presentImages: images };
}
