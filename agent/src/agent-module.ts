/**
 * How modules (health, recovery, cloud link) plug into the reconcile cycle (agent.ts), and what a cycle shows them.
 *
 * Modules get the Agent in `start(agent)` and use its public API:
 *   agent.config / log / clock / docker / executor (ContainerOps: pull, create, start, stop, remove, restart,
 *   recreate, inspect) / state (StateDir: store(), markers, counters) / backoff (RetryManager) / status (StatusBook)
 *   agent.trigger(reason)          reconcile now
 *   agent.setTarget(snapshot)      adopt a target pushed by the cloud / a job / a rollback (persists, triggers)
 *   agent.currentTarget()          the target being converged to
 *   agent.resetService(name)       retry-now: forget a service's backoff (and trigger)
 *   agent.requestRestart(name)     restart a running service's container in the next cycle (restart-service job)
 *   agent.container(name)          the owned container last observed for a service
 *   agent.manualStops()            services with a manual-stop marker (fresh readdir)
 *   agent.reports()                ServiceReport[] (contract shape), built on demand
 *   agent.onCycle(fn)              called with every CycleResult
 * A module hook that throws is logged and the cycle goes on: no module can stop reconciliation.
 */
import type { ServiceReport } from '#contract/report.js';
import type { Agent } from './agent.js';
import type { StepOutcome } from './engine/executor.js';
import type { Observation } from './engine/observe.js';
import type { CycleError } from './output/health-file.js';
import type { Plan } from './planner/types.js';
import type { TargetSnapshot } from './target/provider.js';

export interface AgentModule {
  readonly name: string;
  /** After state is loaded, before the first cycle. */
  start?(agent: Agent): Promise<void> | void;
  /** First phase of every cycle. */
  beforeCycle?(cycle: CycleContext): Promise<void> | void;
  /** After observe, before plan: add `cycle.holds` / `cycle.restartRequests`. */
  beforePlan?(cycle: CycleContext): Promise<void> | void;
  /** After execution and status update, before outputs are written. */
  afterCycle?(cycle: CycleContext, result: CycleResult): Promise<void> | void;
  /** On shutdown, in reverse registration order. */
  stop?(): Promise<void> | void;
  /** Retry-now (the `retry` command, SIGHUP): forget this service's (or, without one, every) recovery wait. */
  retryNow?(service: string | undefined): void;
  /**
   * Health verdict for the dependency gate and the 10-minute backoff reset: true/false, or undefined for
   * "no opinion" (next module, then the fallback: the container is running).
   */
  isHealthy?(service: string): boolean | undefined;
}

export interface CycleContext {
  n: number;
  /** Why this cycle runs: 'start', 'timer', 'target-changed', 'sighup', module reasons... */
  reasons: string[];
  startedMono: number;
  target: TargetSnapshot | null;
  observation: Observation | null;
  manualStops: Set<string>;
  /** service → reason: the planner brings none of these up nor restarts them this cycle. */
  holds: Map<string, string>;
  restartRequests: Set<string>;
  plan: Plan | null;
  outcomes: StepOutcome[];
}

export interface CycleResult {
  n: number;
  reasons: string[];
  success: boolean;
  durationMs: number;
  finishedAt: string;
  dryRun: boolean;
  engineError?: string;
  targetError?: string;
  targetVersion?: string;
  plan: Plan | null;
  outcomes: StepOutcome[];
  errors: CycleError[];
  services: ServiceReport[];
}
