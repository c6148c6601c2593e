/**
 * Plugs health checks and auto-recovery (controller.ts) into the agent's loop (agent.ts `AgentModule`):
 *
 *   start        the controller on the agent's engine, executor, status book and manual-stop markers;
 *                the engine's die events for this agent's containers
 *   beforePlan   sync the controller with what the cycle observed, then hand the planner the services
 *                recovery holds (acting on, re-checking, waiting for a dependency, CrashLoopBackOff, exited);
 *                services the planner is about to change are "reconciling": their failures are not incidents
 *   afterCycle   sync again with the containers as they are after the cycle's steps
 *   isHealthy    the dependency gate and the 10-minute backoff reset use the health checks' verdict
 */
import type { ServiceSpec } from '../../../functions/contract/target-state.js';
import type { Agent, AgentModule, CycleContext } from '../agent.js';
import { specHash } from '../planner/spec-hash.js';
import type { ObservedContainer } from '../planner/types.js';
import { HealthRecovery, type ServiceInput } from './controller.js';
import { DEFAULT_RECOVERY_CONFIG, type RecoveryConfig } from './policy.js';

export interface RecoveryModuleOptions {
  policy?: RecoveryConfig;
  /** Re-check delay for services without a health check (seed 003: 5 s). */
  defaultStartupDelayMs?: number;
  /** Watch the engine's die events (default true). */
  events?: boolean;
}

/**
 * Reads FLEETMEDIC_RECOVERY_MAX_RESTARTS / FLEETMEDIC_RECOVERY_WINDOW_SECONDS (seed 003 defaults 3 / 300) and
 * FLEETMEDIC_ENGINE_EVENTS=0 (no event stream: deaths are then noticed by the checks and cycles only).
 */
export function recoveryOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): RecoveryModuleOptions {
  const num = (v: string | undefined, fallback: number) => {
    const n = v === undefined || v === '' ? fallback : Number(v);
    return Number.isFinite(n) && n > 0 ? n : fallback;
  };
  return {
    events: env.FLEETMEDIC_ENGINE_EVENTS !== '0',
    policy: {
      maxRestarts: num(env.FLEETMEDIC_RECOVERY_MAX_RESTARTS, DEFAULT_RECOVERY_CONFIG.maxRestarts),
      windowMs: num(env.FLEETMEDIC_RECOVERY_WINDOW_SECONDS, DEFAULT_RECOVERY_CONFIG.windowMs / 1000) * 1000,
    },
  };
}

export class RecoveryModule implements AgentModule {
  readonly name = 'health-recovery';
  controller!: HealthRecovery;
  private agent!: Agent;

  constructor(private readonly opts: RecoveryModuleOptions = {}) {}

  async start(agent: Agent): Promise<void> {
    this.agent = agent;
    this.controller = new HealthRecovery({
      clock: agent.clock,
      docker: agent.docker,
      ops: agent.executor,
      log: agent.log.child({ module: 'recovery' }),
      book: agent.status,
      ...(this.opts.policy ? { policy: this.opts.policy } : {}),
      ...(this.opts.defaultStartupDelayMs !== undefined ? { defaultStartupDelayMs: this.opts.defaultStartupDelayMs } : {}),
      isManuallyStopped: (s) => agent.state.markers.has(s),
      // A finished recovery action may unblock a dependent the planner is waiting to start.
      onAction: (_a, ok) => ok && agent.trigger('recovery-action'),
    });
    if (this.opts.events !== false && !agent.config.dryRun) {
      await this.controller.watchEvents(agent.config.agentId).catch((err: Error) => agent.log.warn({ err: err.message }, 'engine events unavailable; relying on health checks and cycles'));
    }
  }

  beforePlan(cycle: CycleContext): void {
    if (this.agent.config.dryRun) return;
    const target = cycle.target?.target;
    const containers = cycle.observation?.containers ?? [];
    // What the planner may change this cycle (create, recreate for a new spec, start a never-started
    // container, a requested restart): not recovery's incidents, and not held.
    const changing = new Set(cycle.restartRequests);
    const newSpec: string[] = [];
    if (target)
      for (const [name, spec] of Object.entries(target.services)) {
        const c = newest(containers, name);
        if (c && c.specHash !== specHash(spec)) newSpec.push(name);
        if (!c || c.specHash !== specHash(spec) || ['created', 'paused', 'dead', 'removing'].includes(c.state)) changing.add(name);
      }
    this.controller.sync(target ? toInputs(target.services, containers, cycle.manualStops, cycle.target?.version) : [], changing);
    // A changed target heals at once: a CrashLoopBackOff belongs to the old spec.
    for (const name of newSpec) if (this.controller.policy.state(name).phase !== 'idle') this.controller.resetService(name);
    for (const [name, reason] of this.controller.holds()) if (!cycle.holds.has(name)) cycle.holds.set(name, reason);
  }

  afterCycle(cycle: CycleContext): void {
    if (this.agent.config.dryRun) return;
    const target = cycle.target?.target;
    this.controller.sync(target ? toInputs(target.services, this.agent.containers(), cycle.manualStops, cycle.target?.version) : []);
    // Containers the planner (re)started this cycle get their startup delay before checks count.
    for (const o of cycle.outcomes)
      if (o.status === 'ok' && (o.step.action === 'startContainer' || o.step.action === 'restartContainer')) this.controller.scheduler.restarted(o.step.service, undefined, o.containerId);
  }

  isHealthy(service: string): boolean | undefined {
    if (!this.controller) return undefined;
    return this.controller.knows(service) ? this.controller.isHealthy(service) : undefined;
  }

  stop(): void {
    this.controller?.stop();
  }
}

function newest(containers: readonly ObservedContainer[], service: string): ObservedContainer | undefined {
  const mine = containers.filter((c) => c.owned && c.service === service);
  return mine.find((c) => c.state === 'running') ?? [...mine].sort((a, b) => b.created - a.created)[0];
}

function toInputs(services: Record<string, ServiceSpec>, containers: readonly ObservedContainer[], manualStops: ReadonlySet<string>, targetVersion?: string): ServiceInput[] {
  return Object.entries(services).map(([name, spec]) => {
    const c = newest(containers, name);
    return {
      name,
      spec,
      manualStop: manualStops.has(name),
      ...(c ? { containerId: c.id, state: c.state } : {}),
      ...(targetVersion ? { targetVersion } : {}),
    };
  });
}
