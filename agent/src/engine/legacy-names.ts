/**
 * Containers this agent owns under the old default name (`fleetmedic_<service>`, without the agent id: names.ts)
 * are adopted as they are (ownership is by label) and renamed to the current name, freeing the old one for a
 * second agent on the engine. Best effort: a failed rename only means the old name stays taken.
 */
import type Docker from 'dockerode';
import type { Logger } from '../log.js';
import type { ObservedContainer } from '../planner/types.js';
import { containerName, legacyName } from './names.js';

/** Renames each legacy-named container (updating `name` in the list it was given). */
export async function renameLegacyContainers(
  docker: Docker,
  namePrefix: string,
  containers: ObservedContainer[],
  log: Logger,
): Promise<void> {
  for (const c of containers) {
    const wanted = containerName(namePrefix, c.service);
    if (c.name === wanted || c.name !== legacyName(c.service)) continue;
    if (containers.some((o) => o.name === wanted)) continue;
    try {
      await docker.getContainer(c.id).rename({ name: wanted });
      log.info({ service: c.service, from: c.name, to: wanted }, 'adopted a container under its old name; renamed');
      c.name = wanted;
    } catch (err) {
      log.warn(
        { service: c.service, name: c.name, err: (err as Error).message },
        'cannot rename a container adopted under its old name; keeping it',
      );
    }
  }
}
