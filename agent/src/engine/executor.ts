/**
 * Runs a plan's steps against the engine, in order. A failed step never blocks the others: it is recorded and
 * only the steps that `need` it (the rest of that service's chain) are skipped as blocked; every other step
 * runs on. The executor knows nothing of backoff or status: it reports an outcome per step and the agent
 * books them (agent.ts).
 *
 * The single-container operations (`ContainerOps` below) are public too, for the recovery module: restart,
 * recreate, re-pull, inspect.
 */
import type Docker from 'dockerode';
import { StepError, toStepError, statusCodeOf } from '../backoff/errors.js';
import type { ServiceSpec } from '#contract/target-state.js';
import type { ContainerState, Step } from '../planner/types.js';
import { withEngineDeadline } from './availability.js';
import { specHash as hashSpec } from '../planner/spec-hash.js';
import { createOptions } from './create-options.js';
import type { DiskChecker } from './disk.js';
import { containerName } from './names.js';
import { pullImage, type PullProgress } from './pull.js';
import { RegistryCredentials } from './registry-auth.js';
import { listOwnedContainers } from './observe.js';

export type StepOutcome =
  | { step: Step; status: 'ok'; durationMs: number; containerId?: string }
  | { step: Step; status: 'failed'; durationMs: number; error: StepError }
  | { step: Step; status: 'blocked'; durationMs: 0; blockedBy: string }
  /** Not run: the pre-check said no (e.g. a manual-stop marker appeared while the cycle ran). */
  | { step: Step; status: 'skipped'; durationMs: 0; reason: string };

export interface ExecutorOptions {
  docker: Docker;
  agentId: string;
  namePrefix: string;
  /** Seconds the engine waits for a graceful stop before killing. */
  stopTimeoutSeconds: number;
  pullTimeoutMs: number;
  disk?: DiskChecker;
  onPullProgress?: (ref: string, p: PullProgress) => void;
}

export class Executor {
  /** Private registry credentials delivered by the cloud (memory only): every pull and its disk pre-check use them. */
  readonly registries = new RegistryCredentials();

  constructor(readonly opts: ExecutorOptions) {}

  /**
   * Runs the steps; `onOutcome` is called after each one (so status can be updated while a long pull of
   * another service is still running). `shouldStop` lets a shutdown end the run between steps.
   */
  async run(
    steps: readonly Step[],
    onOutcome?: (o: StepOutcome) => void,
    shouldStop?: () => boolean,
    /** Checked right before each step; a reason skips it (and what needs it). */
    precheck?: (step: Step) => Promise<string | undefined>,
  ): Promise<StepOutcome[]> {
    const outcomes: StepOutcome[] = [];
    const failed = new Set<string>();
    const created = new Map<string, string>(); // service → new container id
    for (const step of steps) {
      if (shouldStop?.()) break;
      const blocker = step.needs.find((id) => failed.has(id));
      let outcome: StepOutcome;
      const veto = blocker ? undefined : await precheck?.(step);
      if (blocker) {
        failed.add(step.id);
        outcome = { step, status: 'blocked', durationMs: 0, blockedBy: blocker };
      } else if (veto) {
        failed.add(step.id);
        outcome = { step, status: 'skipped', durationMs: 0, reason: veto };
      } else {
        const t0 = performance.now();
        try {
          const containerId = await this.exec(step, created);
          outcome = { step, status: 'ok', durationMs: performance.now() - t0, ...(containerId ? { containerId } : {}) };
        } catch (err) {
          failed.add(step.id);
          outcome = {
            step,
            status: 'failed',
            durationMs: performance.now() - t0,
            error: toStepError(step.action, err),
          };
        }
      }
      outcomes.push(outcome);
      onOutcome?.(outcome);
    }
    return outcomes;
  }

  private async exec(step: Step, created: Map<string, string>): Promise<string | undefined> {
    switch (step.action) {
      case 'pullImage':
        await this.pull(step.image);
        return undefined;
      case 'createContainer': {
        const id = await this.create(step.service, step.spec, step.specHash, step.targetVersion);
        created.set(step.service, id);
        return id;
      }
      case 'startContainer': {
        const id = step.containerId ?? created.get(step.service);
        if (!id) throw new StepError(`no container to start for ${step.service}`, 'StartFailure', false);
        await this.start(id);
        return id;
      }
      case 'stopContainer':
        await this.stop(step.containerId);
        return step.containerId;
      case 'removeContainer':
        await this.remove(step.containerId);
        return step.containerId;
      case 'restartContainer':
        await this.restart(step.containerId);
        return step.containerId;
    }
  }

  // ---- ContainerOps (also used by recovery) ----

  async pull(ref: string): Promise<void> {
    const auth = this.registries.forImage(ref);
    await this.opts.disk?.ensureRoomFor(ref, auth?.auth);
    const onProgress = this.opts.onPullProgress;
    await pullImage(this.opts.docker, ref, {
      timeoutMs: this.opts.pullTimeoutMs,
      ...(auth ? { auth } : {}),
      ...(onProgress ? { onProgress: (p: PullProgress) => onProgress(ref, p) } : {}),
    });
  }

  async create(service: string, spec: ServiceSpec, specHash = hashSpec(spec), targetVersion?: string): Promise<string> {
    const name = containerName(this.opts.namePrefix, service);
    try {
      const c = await this.opts.docker.createContainer(
        createOptions({ name, service, spec, specHash, agentId: this.opts.agentId, targetVersion }),
      );
      return c.id;
    } catch (err) {
      // Our own container of that name may exist (e.g. a crash between create and the next observe): adopt it
      // when it matches, never touch a foreign one.
      if (statusCodeOf(err) === 409 || /already in use/i.test(String((err as Error).message))) {
        const mine = (await listOwnedContainers(this.opts.docker, this.opts.agentId)).find(
          (c) => c.name === name && c.specHash === specHash,
        );
        if (mine) return mine.id;
      }
      throw toStepError('createContainer', err);
    }
  }

  async start(containerId: string): Promise<void> {
    try {
      await this.opts.docker.getContainer(containerId).start();
    } catch (err) {
      if (statusCodeOf(err) === 304) return; // already running
      throw toStepError('startContainer', err);
    }
  }

  async stop(containerId: string): Promise<void> {
    try {
      await this.opts.docker.getContainer(containerId).stop({ t: this.opts.stopTimeoutSeconds });
    } catch (err) {
      const code = statusCodeOf(err);
      if (code === 304 || code === 404) return; // already stopped / gone
      throw toStepError('stopContainer', err);
    }
  }

  async remove(containerId: string): Promise<void> {
    try {
      await this.opts.docker.getContainer(containerId).remove({ force: true, v: false });
    } catch (err) {
      if (statusCodeOf(err) === 404) return; // already gone
      throw toStepError('removeContainer', err);
    }
  }

  async restart(containerId: string): Promise<void> {
    try {
      await this.opts.docker.getContainer(containerId).restart({ t: this.opts.stopTimeoutSeconds });
    } catch (err) {
      throw toStepError('restartContainer', err);
    }
  }

  /**
   * The container's state as the engine reports it, or null when it no longer exists. Bounded (30 s): an engine
   * that does not answer throws (EngineTimeoutError), it does not make the container look gone.
   */
  async inspect(containerId: string): Promise<{ status: ContainerState; running: boolean } | null> {
    try {
      const info = await withEngineDeadline(this.opts.docker.getContainer(containerId).inspect(), 30_000, 'inspect');
      return { status: (info.State?.Status as ContainerState) ?? 'unknown', running: info.State?.Running === true };
    } catch (err) {
      if (statusCodeOf(err) === 404) return null;
      throw err;
    }
  }

  /** Stop + remove + create + start (recovery's second rung). Returns the new container id. */
  async recreate(
    service: string,
    spec: ServiceSpec,
    oldContainerId: string | undefined,
    targetVersion?: string,
  ): Promise<string> {
    if (oldContainerId) {
      await this.stop(oldContainerId);
      await this.remove(oldContainerId);
    }
    const id = await this.create(service, spec, hashSpec(spec), targetVersion);
    await this.start(id);
    return id;
  }
}
