/**
 * The planner: target state + observed owned containers → ordered steps. Pure (no Docker, no clock).
 *
 * Rules
 * - Only containers marked `owned` are ever planned for; anything else on the engine is invisible here.
 * - Owned containers whose service is not in the target (or duplicates of one that is) are stopped and
 *   removed first, so their names and ports are free before anything new starts.
 * - Services are handled in dependency order (dependencies first). A service whose container must be
 *   created/started waits ('waiting-dependency') until every dependency is healthy; its image is still pulled.
 * - A changed spec (container label `spec-hash` ≠ hash of the target spec) means recreate: pull (if the image
 *   is missing) → stop → remove → create → start. The pull comes first so a bad new image never tears down the
 *   running old container.
 * - A step whose backoff key is still gated is not planned, nor anything that would follow it for that service
 *   ('backoff'); manual-stop markers and holds suppress every step for the service.
 * - `needs` chains the steps of a service so that the executor skips what follows a failed step, while steps of
 *   other services run on (a failed step never blocks the others).
 */
import type { ServiceSpec, TargetState } from '#contract/target-state.js';
import { specHash } from './spec-hash.js';
import type { ObservedContainer, Plan, PlanInput, Skip, Step } from './types.js';

const RUNNING_LIKE = new Set(['running', 'restarting', 'paused']);

export const stepKeys = {
  image: (ref: string) => `image:${ref}`,
  create: (service: string) => `create:${service}`,
  start: (service: string) => `start:${service}`,
  stop: (service: string) => `stop:${service}`,
  remove: (service: string) => `remove:${service}`,
  restart: (service: string) => `restart:${service}`,
};

export function plan(input: PlanInput): Plan {
  const steps: Step[] = [];
  const skipped: Skip[] = [];
  if (!input.target) return { steps, skipped, order: [] };
  const services = input.target.services;
  const order = dependencyOrder(services);
  const gatedUntil = (key: string): number | undefined => {
    const until = input.gates.get(key);
    return until !== undefined && until > input.now ? until : undefined;
  };

  // Owned containers per service (the planner never looks at anything else).
  const byService = new Map<string, ObservedContainer[]>();
  for (const c of input.containers) {
    if (!c.owned) continue;
    const list = byService.get(c.service) ?? [];
    list.push(c);
    byService.set(c.service, list);
  }

  const keeper = new Map<string, ObservedContainer>();
  const teardown = (c: ObservedContainer, reason: string) => {
    const stopId = `stop:${c.id}`;
    const removeKey = stepKeys.remove(c.name);
    const until = gatedUntil(removeKey);
    if (until !== undefined) {
      skipped.push({ service: c.service, reason: 'backoff', key: removeKey, until });
      return;
    }
    const needs: string[] = [];
    if (RUNNING_LIKE.has(c.state)) {
      steps.push({
        id: stopId,
        action: 'stopContainer',
        key: stepKeys.stop(c.name),
        service: c.service,
        containerId: c.id,
        services: [],
        needs: [],
        reason,
      });
      needs.push(stopId);
    }
    steps.push({
      id: `remove:${c.id}`,
      action: 'removeContainer',
      key: removeKey,
      service: c.service,
      containerId: c.id,
      services: [],
      needs,
      reason,
    });
  };

  // 1. Orphans (not in target) and duplicates.
  for (const [service, list] of [...byService].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!(service in services)) {
      if (input.manualStops.has(service)) {
        skipped.push({ service, reason: 'manual-stop' });
        continue;
      }
      for (const c of list) teardown(c, 'not in target');
      continue;
    }
    const spec = services[service]!;
    const keep = pickKeeper(list, specHash(spec));
    keeper.set(service, keep);
    for (const c of list) if (c !== keep && !input.manualStops.has(service)) teardown(c, 'duplicate container');
  }

  // 2. Target services, dependencies first.
  const pullSteps = new Map<string, Step & { action: 'pullImage' }>();
  const gatedImages = new Map<string, number>();
  for (const name of order) {
    const spec = services[name]!;
    if (input.manualStops.has(name)) {
      skipped.push({ service: name, reason: 'manual-stop' });
      continue;
    }
    const hold = input.holds.get(name);
    if (hold !== undefined) {
      skipped.push({ service: name, reason: 'hold', detail: hold });
      continue;
    }
    const hash = specHash(spec);
    const c = keeper.get(name);
    const bringUp = !c || c.specHash !== hash || c.state === 'dead' || c.state === 'removing';

    if (!bringUp) {
      // Container matches the spec: make sure it runs.
      if (c.state === 'running' || c.state === 'restarting') {
        if (input.restartRequests?.has(name))
          addGuarded(name, {
            id: `restart:${name}`,
            action: 'restartContainer',
            key: stepKeys.restart(name),
            service: name,
            containerId: c.id,
            services: [name],
            needs: [],
            reason: 'restart requested',
          });
        continue;
      }
      const unready = unreadyDependency(spec, input);
      if (unready) {
        skipped.push({ service: name, reason: 'waiting-dependency', detail: unready });
        continue;
      }
      if (c.state === 'paused')
        addGuarded(name, {
          id: `restart:${name}`,
          action: 'restartContainer',
          key: stepKeys.restart(name),
          service: name,
          containerId: c.id,
          services: [name],
          needs: [],
          reason: 'container paused',
        });
      else
        addGuarded(name, {
          id: `start:${name}`,
          action: 'startContainer',
          key: stepKeys.start(name),
          service: name,
          containerId: c.id,
          services: [name],
          needs: [],
          reason: `container ${c.state}`,
          exitedBefore: c.state !== 'created',
        });
      continue;
    }

    // Bring up (create or recreate): image first.
    let pullId: string | undefined;
    if (!input.presentImages.has(spec.image)) {
      const shared = pullSteps.get(spec.image);
      const imageKey = stepKeys.image(spec.image);
      const until = gatedImages.get(spec.image) ?? gatedUntil(imageKey);
      if (shared) {
        shared.services.push(name);
        pullId = shared.id;
      } else if (until !== undefined) {
        gatedImages.set(spec.image, until);
        skipped.push({ service: name, reason: 'backoff', key: imageKey, until });
        continue;
      } else {
        const step = {
          id: `pull:${spec.image}`,
          action: 'pullImage' as const,
          key: imageKey,
          image: spec.image,
          services: [name],
          needs: [],
          reason: 'image not present',
        };
        steps.push(step);
        pullSteps.set(spec.image, step);
        pullId = step.id;
      }
    }
    const unready = unreadyDependency(spec, input);
    if (unready) {
      skipped.push({ service: name, reason: 'waiting-dependency', detail: unready });
      continue;
    }
    const keys = [
      c ? stepKeys.stop(name) : null,
      c ? stepKeys.remove(name) : null,
      stepKeys.create(name),
      stepKeys.start(name),
    ].filter((k): k is string => k !== null);
    const gatedKey = keys.find((k) => gatedUntil(k) !== undefined);
    if (gatedKey) {
      skipped.push({ service: name, reason: 'backoff', key: gatedKey, until: gatedUntil(gatedKey)! });
      continue;
    }
    let prev = pullId ? [pullId] : [];
    if (c) {
      const reason = c.specHash !== hash ? 'spec changed' : `container ${c.state}`;
      if (RUNNING_LIKE.has(c.state)) {
        steps.push({
          id: `stop:${c.id}`,
          action: 'stopContainer',
          key: stepKeys.stop(name),
          service: name,
          containerId: c.id,
          services: [name],
          needs: prev,
          reason,
        });
        prev = [`stop:${c.id}`];
      }
      steps.push({
        id: `remove:${c.id}`,
        action: 'removeContainer',
        key: stepKeys.remove(name),
        service: name,
        containerId: c.id,
        services: [name],
        needs: prev,
        reason,
      });
      prev = [`remove:${c.id}`];
    }
    steps.push({
      id: `create:${name}`,
      action: 'createContainer',
      key: stepKeys.create(name),
      service: name,
      spec,
      specHash: hash,
      targetVersion: input.targetVersion,
      services: [name],
      needs: prev,
      reason: c ? 'recreate' : 'no container',
    });
    steps.push({
      id: `start:${name}`,
      action: 'startContainer',
      key: stepKeys.start(name),
      service: name,
      services: [name],
      needs: [`create:${name}`],
      reason: 'new container',
      exitedBefore: false,
    });
  }
  return { steps, skipped, order };

  function addGuarded(service: string, step: Step): void {
    const until = gatedUntil(step.key);
    if (until !== undefined) skipped.push({ service, reason: 'backoff', key: step.key, until });
    else steps.push(step);
  }
}

/** The first dependency that is not healthy (or is manually stopped), if any. */
function unreadyDependency(spec: ServiceSpec, input: PlanInput): string | undefined {
  return spec.dependsOn.find((d) => input.manualStops.has(d) || !input.isHealthy(d));
}

/** Of several owned containers for one service keep the one that matches the spec and runs, else the newest. */
function pickKeeper(list: ObservedContainer[], hash: string): ObservedContainer {
  const score = (c: ObservedContainer) => (c.specHash === hash ? 2 : 0) + (c.state === 'running' ? 1 : 0);
  return [...list].sort((a, b) => score(b) - score(a) || b.created - a.created || (a.id < b.id ? -1 : 1))[0]!;
}

/** Topological order, dependencies first, ties by name (deterministic). Cycles are rejected by the contract. */
export function dependencyOrder(services: TargetState['services']): string[] {
  const out: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string) => {
    if (state.get(name)) return; // 'visiting' would be a cycle: the contract forbids it, don't loop
    state.set(name, 'visiting');
    for (const dep of [...(services[name]?.dependsOn ?? [])].sort()) if (services[dep]) visit(dep);
    state.set(name, 'done');
    out.push(name);
  };
  for (const name of Object.keys(services).sort()) visit(name);
  return out;
}
