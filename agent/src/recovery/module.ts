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
import * as z from 'zod/mini';
import type { ServiceSpec } from '#contract/target-state.js';
import type { Agent } from '../agent.js';
import type { AgentModule, CycleContext } from '../agent-module.js';
import { DEFAULT_ENGINE_ALLOWANCE_MS } from '../health/exec-probes.js';
import { specHash } from '../planner/spec-hash.js';
import type { ObservedContainer } from '../planner/types.js';
import type { JsonStore } from '../state/json-store.js';
import { RecoveryController, type ServiceInput } from './controller.js';
import { DEFAULT_RECOVERY_CONFIG, ESCALATION_LADDER, type RecoveryConfig } from './policy.js';
import type { AgentRecoveries } from '#contract/report.js';

/** `recovery.json` in the state directory: the rate-limit history survives an agent restart. */
const PersistedRecoveryDoc = z.object({
  savedAtWall: z.number(),
  services: z.record(
    z.string(),
    z.object({
      recentAgesMs: z.array(z.number().check(z.minimum(0))).check(z.maxLength(100)),
      totalRestarts: z.int().check(z.minimum(0)),
      level: z.int().check(z.minimum(0)),
      attempted: z.array(z.string()).check(z.maxLength(20)),
      crashLoopForMs: z.nullable(z.number().check(z.minimum(0))),
      verifying: z.optional(z.boolean()),
      verifyingAction: z.optional(z.enum(['restart', 'recreate', 'repull'])),
    }),
  ),
  /** Recovery attempts by action and outcome since `epoch` (files of older agents have none: counting starts). */
  counters: z.optional(
    z.object({
      epoch: z.string().check(z.minLength(1), z.maxLength(64)),
      counts: z.record(
        z.enum(['restart', 'recreate', 'repull']),
        z.object({ succeeded: z.int().check(z.minimum(0)), failed: z.int().check(z.minimum(0)) }),
      ),
    }),
  ),
});
type PersistedRecoveryDoc = z.output<typeof PersistedRecoveryDoc>;

export interface RecoveryModuleOptions {
  policy?: RecoveryConfig;
  /** Re-check delay for services without a health check. */
  defaultStartupDelayMs?: number;
  /** Watch the engine's die events (default true). */
  events?: boolean;
  /** Time the engine gets to start an exec check (or answer `top`/inspect) on top of the check's timeout. */
  engineAllowanceMs?: number;
}

/**
 * Reads FLEETMEDIC_RECOVERY_MAX_RESTARTS / FLEETMEDIC_RECOVERY_WINDOW_SECONDS and
 * FLEETMEDIC_ENGINE_EVENTS=0 (no event stream: deaths are then noticed by the checks and cycles only),
 * FLEETMEDIC_CHECK_ENGINE_ALLOWANCE_SECONDS (default 15: see health/exec-probes.ts).
 */
export function recoveryOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): RecoveryModuleOptions {
  const num = (v: string | undefined, fallback: number) => {
    const n = v === undefined || v === '' ? fallback : Number(v);
    return Number.isFinite(n) && n > 0 ? n : fallback;
  };
  return {
    events: env.FLEETMEDIC_ENGINE_EVENTS !== '0',
    engineAllowanceMs: num(env.FLEETMEDIC_CHECK_ENGINE_ALLOWANCE_SECONDS, DEFAULT_ENGINE_ALLOWANCE_MS / 1000) * 1000,
    policy: {
      maxRestarts: num(env.FLEETMEDIC_RECOVERY_MAX_RESTARTS, DEFAULT_RECOVERY_CONFIG.maxRestarts),
      windowMs: num(env.FLEETMEDIC_RECOVERY_WINDOW_SECONDS, DEFAULT_RECOVERY_CONFIG.windowMs / 1000) * 1000,
    },
  };
}

export class RecoveryModule implements AgentModule {
  readonly name = 'health-recovery';
  controller!: RecoveryController;
  private agent!: Agent;
  private store: JsonStore<PersistedRecoveryDoc> | undefined;
  private savedJson = '';

  constructor(private readonly opts: RecoveryModuleOptions = {}) {}

  async start(agent: Agent): Promise<void> {
    this.agent = agent;
    this.controller = new RecoveryController({
      clock: agent.clock,
      docker: agent.docker,
      ops: agent.executor,
      engine: agent.engine,
      ...(this.opts.engineAllowanceMs !== undefined ? { engineAllowanceMs: this.opts.engineAllowanceMs } : {}),
      log: agent.log.child({ module: 'recovery' }),
      book: agent.status,
      ...(this.opts.policy ? { policy: this.opts.policy } : {}),
      ...(this.opts.defaultStartupDelayMs !== undefined
        ? { defaultStartupDelayMs: this.opts.defaultStartupDelayMs }
        : {}),
      isManuallyStopped: (s) => agent.state.markers.has(s),
      // The ladder position and the rate-limit entry are on disk before the action runs: a kill -9 during it
      // cannot give the service a fresh set of restarts or start it over at the first rung.
      beforeAction: () => this.persist(),
      // A finished recovery action may unblock a dependent the planner is waiting to start.
      onAction: (_a, ok) => {
        void this.persist();
        if (ok) agent.trigger('recovery-action');
      },
    });
    if (!agent.config.dryRun) {
      // A crash-looping service must not get a fresh set of restarts because the agent restarted.
      this.store = agent.state.store('recovery', PersistedRecoveryDoc, () => ({ savedAtWall: 0, services: {} }));
      const loaded = await this.store.load();
      if (loaded.problems.length)
        agent.log.warn({ problems: loaded.problems }, `recovery state damaged; recovered from ${loaded.source}`);
      if (loaded.value.savedAtWall)
        this.controller.policy.restorePersisted(
          loaded.value.services,
          agent.clock.monoNow(),
          agent.clock.wallNow() - loaded.value.savedAtWall,
        );
      if (loaded.value.counters) this.controller.policy.counters = structuredClone(loaded.value.counters);
      this.savedJson = this.persistedJson(loaded.value.services);
    }
    if (this.opts.events !== false && !agent.config.dryRun) {
      await this.controller
        .watchEvents(agent.config.agentId)
        .catch((err: Error) =>
          agent.log.warn({ err: err.message }, 'engine events unavailable; relying on health checks and cycles'),
        );
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
        if (!c || c.specHash !== specHash(spec) || ['created', 'paused', 'dead', 'removing'].includes(c.state))
          changing.add(name);
      }
    this.controller.sync(
      target ? toInputs(target.services, containers, cycle.manualStops, cycle.target?.version) : [],
      changing,
    );
    // A changed target heals at once: a CrashLoopBackOff belongs to the old spec.
    for (const name of newSpec)
      if (this.controller.policy.state(name).phase !== 'idle') this.controller.resetService(name);
    for (const [name, reason] of this.controller.holds()) if (!cycle.holds.has(name)) cycle.holds.set(name, reason);
  }

  async afterCycle(cycle: CycleContext): Promise<void> {
    if (this.agent.config.dryRun) return;
    const target = cycle.target?.target;
    this.controller.sync(
      target ? toInputs(target.services, this.agent.containers(), cycle.manualStops, cycle.target?.version) : [],
    );
    // Containers the planner (re)started this cycle get their startup delay before checks count.
    for (const o of cycle.outcomes)
      if (o.status === 'ok' && (o.step.action === 'startContainer' || o.step.action === 'restartContainer'))
        this.controller.scheduler.restarted(o.step.service, undefined, o.containerId);
    await this.persist();
  }

  /** Saves the rate-limit history when it changed (ages are rounded to the second to avoid pointless writes). */
  private async persist(): Promise<void> {
    if (!this.store) return;
    const services = this.controller.policy.persistable(this.agent.clock.monoNow());
    const json = this.persistedJson(services);
    if (json === this.savedJson) return;
    // Marked saved only once it is: a failed save (full disk) is tried again by the next call. The state dir
    // logs and reports the failure.
    const counters = structuredClone(this.controller.policy.counters);
    await this.store.save({ savedAtWall: this.agent.clock.wallNow(), services, counters }).then(
      () => {
        this.savedJson = json;
      },
      () => {},
    );
  }

  private persistedJson(services: PersistedRecoveryDoc['services']): string {
    const json = JSON.stringify(services, (k, v) =>
      k === 'recentAgesMs' ? (v as number[]).length : k === 'crashLoopForMs' ? v !== null : v,
    );
    return `${json}|${JSON.stringify(this.controller.policy.counters)}`;
  }

  /** The attempts so far, in the report contract's shape (cloud/link.ts sends them with every report). */
  recoveries(): AgentRecoveries | undefined {
    if (!this.controller) return undefined;
    const c = this.controller.policy.counters;
    return {
      epoch: c.epoch,
      counts: ESCALATION_LADDER.map((strategy) => ({ strategy, ...c.counts[strategy] })),
    };
  }

  /** `retry <service>` / SIGHUP: the CrashLoopBackOff wait and rate-limit history go, like the cloud's retry-now. */
  retryNow(service: string | undefined): void {
    if (!this.controller) return;
    for (const name of service ? [service] : this.controller.services()) this.controller.resetService(name);
  }

  isHealthy(service: string): boolean | undefined {
    if (!this.controller) return undefined;
    return this.controller.knows(service) ? this.controller.isHealthy(service) : undefined;
  }

  async stop(): Promise<void> {
    this.controller?.stop();
    if (this.controller) {
      this.savedJson = ''; // always write the final ages
      await this.persist();
    }
  }
}

function newest(containers: readonly ObservedContainer[], service: string): ObservedContainer | undefined {
  const mine = containers.filter((c) => c.owned && c.service === service);
  return mine.find((c) => c.state === 'running') ?? [...mine].sort((a, b) => b.created - a.created)[0];
}

function toInputs(
  services: Record<string, ServiceSpec>,
  containers: readonly ObservedContainer[],
  manualStops: ReadonlySet<string>,
  targetVersion?: string,
): ServiceInput[] {
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
