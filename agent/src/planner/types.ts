/** Planner input and output. Plain data: no Docker types, so the planner stays pure and unit-testable. */
import type { ServiceSpec, TargetState } from '#contract/target-state.js';

/** Docker/Podman container states (`State` of the list API). */
export type ContainerState =
  | 'created'
  | 'running'
  | 'paused'
  | 'restarting'
  | 'removing'
  | 'exited'
  | 'dead'
  | 'stopped'
  | 'unknown';

/** An owned container as observed on the engine (labels decoded by engine/observe.ts). */
export interface ObservedContainer {
  id: string;
  name: string;
  /** From `io.fleetmedic.service`. */
  service: string;
  /** From `io.fleetmedic.spec-hash`. */
  specHash: string;
  targetVersion?: string;
  image: string;
  state: ContainerState;
  /** Epoch seconds (engine `Created`), to pick the newest of duplicates. */
  created: number;
  /** Owned by THIS agent (both ownership labels). The planner never plans a step for a container without it. */
  owned: boolean;
}

export interface PlanInput {
  /** null: no target known yet → plan nothing (an agent without a target never removes anything). */
  target: TargetState | null;
  targetVersion?: string;
  containers: readonly ObservedContainer[];
  /** Image references present on the engine. */
  presentImages: ReadonlySet<string>;
  /** Backoff: step key → monotonic time of the next allowed attempt (only keys still gated). */
  gates: ReadonlyMap<string, number>;
  /** Services with a manual-stop marker: no step at all. */
  manualStops: ReadonlySet<string>;
  /** Services another module holds (recovery in progress, CrashLoopBackOff): not brought up or restarted. */
  holds: ReadonlyMap<string, string>;
  /** Services someone asked to restart (restart-service job). */
  restartRequests?: ReadonlySet<string>;
  /** Dependency gate: a dependent is created/started only when each dependency is healthy. */
  isHealthy: (service: string) => boolean;
  /** Monotonic ms. */
  now: number;
}

export type StepAction =
  | 'pullImage'
  | 'createContainer'
  | 'startContainer'
  | 'stopContainer'
  | 'removeContainer'
  | 'restartContainer';

interface StepBase {
  /** Unique within a plan; `needs` refers to it. */
  id: string;
  /** Backoff key. */
  key: string;
  /** Services whose status this step affects. */
  services: string[];
  /** Step ids that must have succeeded first (a failed or skipped need skips this step). */
  needs: string[];
  reason: string;
}

export type Step =
  | (StepBase & { action: 'pullImage'; image: string })
  | (StepBase & {
      action: 'createContainer';
      service: string;
      spec: ServiceSpec;
      specHash: string;
      targetVersion?: string;
    })
  | (StepBase & { action: 'startContainer'; service: string; containerId?: string; exitedBefore: boolean })
  | (StepBase & { action: 'stopContainer'; service: string; containerId: string })
  | (StepBase & { action: 'removeContainer'; service: string; containerId: string })
  | (StepBase & { action: 'restartContainer'; service: string; containerId: string });

export type SkipReason = 'backoff' | 'manual-stop' | 'hold' | 'waiting-dependency';

export interface Skip {
  service: string;
  reason: SkipReason;
  /** backoff: the gated key and when it opens (monotonic ms); waiting-dependency: the dependency. */
  key?: string;
  until?: number;
  detail?: string;
}

export interface Plan {
  steps: Step[];
  skipped: Skip[];
  /** Services in dependency order (dependencies first). */
  order: string[];
}
