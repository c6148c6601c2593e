/**
 * The agent's main loop.
 *
 * ── Cycle ──────────────────────────────────────────────────────────────────────────────────────────────────
 * A reconcile cycle runs every `intervalMs` (30 s), immediately on `trigger()` (target changed, file edited,
 * SIGHUP, a module asks), and at the moment a backoff gate opens (so retries keep the 10 s/20 s/… schedule
 * instead of waiting for the next 30 s tick). Cycles never overlap; triggers during a cycle coalesce into one
 * follow-up cycle, at least `minCycleGapMs` later.
 *
 *   1. modules.beforeCycle(cycle)      e.g. poll jobs (which may call agent.setTarget / resetService / requestRestart)
 *   2. target                          provider.fetch() → adopt when its version changed (per-service reset of the
 *                                      backoff of every service whose spec changed); provider down → keep last target
 *   3. manual-stop markers             <stateDir>/manual-stop/*.stopped
 *   4. observe                         owned containers + which target images are present
 *   5. modules.beforePlan(cycle)       add holds (cycle.holds) / restart requests (cycle.restartRequests)
 *   6. plan                            pure planner (dependency gate = modules' isHealthy, else "container running")
 *   7. execute                         step by step; each outcome is booked in the backoff manager and the status book
 *   8. status                          per-service ReconcileView → StatusBook (ServiceReport shape)
 *   9. persist                         backoff / last applied target / restart counts (only when changed)
 *  10. modules.afterCycle(cycle, res)  e.g. report to the cloud, evaluate the rollback window
 *  11. outputs                         health.json + Prometheus textfile, atomically
 * A module hook that throws is logged and the cycle goes on: no module can stop reconciliation.
 *
 * ── Around the cycle ───────────────────────────────────────────────────────────────────────────────────────
 * When cycles run: cycle-timer.ts. How modules plug in, and the API they use: agent-module.ts. The target and
 * where it comes from: target/desired-target.ts. The agent's own state files: state/agent-state.ts. health.json
 * and the metrics textfile: output/cycle-outputs.ts. What stays here is the cycle and the Agent object modules
 * hold (its public API); they share the cycle's state, which is why this file is longer than the others.
 *
 * ── Shutdown ───────────────────────────────────────────────────────────────────────────────────────────────
 * `stop()`: no new cycle; the running one ends after its current step (bounded by `shutdownTimeoutMs`);
 * modules stop in reverse order; state is persisted; atomic writes in flight are awaited; the lock is released.
 */
import type Docker from 'dockerode';
import type { ServiceReport } from '#contract/report.js';
import type { AgentModule, CycleContext, CycleResult } from './agent-module.js';
import { RetryManager } from './backoff/manager.js';
import { type Clock, systemClock } from './clock.js';
import type { AgentConfig } from './config.js';
import { CycleTimer } from './cycle-timer.js';
import { EngineWatch, isEngineUnreachable } from './engine/availability.js';
import { DiskChecker } from './engine/disk.js';
import { Executor, type StepOutcome } from './engine/executor.js';
import { renameLegacyContainers } from './engine/legacy-names.js';
import { listOwnedContainers, observe } from './engine/observe.js';
import type { Logger } from './log.js';
import { writeCycleOutputs } from './output/cycle-outputs.js';
import type { CycleError } from './output/health-file.js';
import { plan as makePlan } from './planner/plan.js';
import { specHash } from './planner/spec-hash.js';
import type { ObservedContainer, Plan } from './planner/types.js';
import { AgentState } from './state/agent-state.js';
import { RequestQueue } from './state/requests.js';
import { StateDir } from './state/state-dir.js';
import { StatusBook } from './status/book.js';
import { errorFromBackoff } from './status/from-backoff.js';
import { engineStartedAt, StartTimes } from './status/start-times.js';
import { DesiredTarget } from './target/desired-target.js';
import type { TargetProvider, TargetSnapshot } from './target/provider.js';

export interface AgentOptions {
  config: AgentConfig;
  docker: Docker;
  log: Logger;
  clock?: Clock;
  targetProvider?: TargetProvider;
  modules?: AgentModule[];
}

// ───────────────────────────── the agent ─────────────────────────────

export class Agent {
  readonly config: AgentConfig;
  readonly docker: Docker;
  readonly log: Logger;
  readonly clock: Clock;
  readonly state: StateDir;
  readonly backoff: RetryManager;
  readonly status: StatusBook;
  readonly executor: Executor;
  /** Is the engine reachable? Marked by whoever meets it unreachable; modules share it (engine/availability.ts). */
  readonly engine: EngineWatch;
  readonly startedAt = new Date();

  private readonly provider?: TargetProvider;
  private readonly modules: AgentModule[];
  private readonly files: AgentState;
  private readonly requests: RequestQueue;
  private readonly cycles: CycleTimer<CycleResult>;

  private readonly target: DesiredTarget;
  private lastContainers: ObservedContainer[] = [];
  /** Containers' start times for the reports (inspected only when they may have changed). */
  private readonly startTimes: StartTimes;
  private lastResult: CycleResult | undefined;
  private restartRequests = new Set<string>();
  /** Manual stops seen by the previous cycle: bringing such a service back after `start` is not a restart. */
  private prevManualStops = new Set<string>();
  private cycleNo = 0;
  private stopping = false;
  private stopPromise: Promise<void> | undefined;
  private unwatch: (() => void) | undefined;
  private resolveStopped!: () => void;
  private readonly stopped = new Promise<void>((r) => (this.resolveStopped = r));
  private readonly cycleListeners = new Set<(r: CycleResult) => void>();

  private constructor(opts: AgentOptions, state: StateDir) {
    this.config = opts.config;
    this.docker = opts.docker;
    this.log = opts.log;
    this.clock = opts.clock ?? systemClock;
    this.state = state;
    this.provider = opts.targetProvider;
    this.modules = [...(opts.modules ?? [])];
    this.backoff = new RetryManager(opts.config.backoff);
    this.engine = new EngineWatch({
      docker: opts.docker,
      onDown: (reason) =>
        this.log.warn(
          { err: reason },
          'engine unreachable: checks that cannot run are unknown, recovery waits; looking for it every second',
        ),
      onUp: (ms) => this.log.info({ downForMs: Math.round(ms) }, 'engine reachable again'),
    });
    this.status = new StatusBook(this.clock, opts.config.restartWindowMs);
    this.startTimes = new StartTimes({
      startedAt: async (id) => engineStartedAt((await opts.docker.getContainer(id).inspect()).State?.StartedAt),
    });
    this.executor = new Executor({
      docker: opts.docker,
      agentId: opts.config.agentId,
      namePrefix: opts.config.namePrefix,
      stopTimeoutSeconds: opts.config.stopTimeoutSeconds,
      pullTimeoutMs: opts.config.pullTimeoutMs,
      disk: new DiskChecker(opts.docker, opts.config.disk, opts.config.dockerHost),
    });
    this.files = new AgentState({
      state,
      log: opts.log,
      clock: this.clock,
      backoff: this.backoff,
      status: this.status,
    });
    this.target = new DesiredTarget({
      ...(opts.targetProvider ? { provider: opts.targetProvider } : {}),
      backoff: this.backoff,
      status: this.status,
      files: this.files,
      log: opts.log,
    });
    this.cycles = new CycleTimer({
      clock: this.clock,
      minCycleGapMs: opts.config.minCycleGapMs,
      run: (reasons) => this.cycle(reasons),
      nextDelayMs: () => this.nextCycleDelay(),
      onCrash: (err) => this.log.error({ err }, 'cycle crashed'),
    });
    this.requests = new RequestQueue(state.path);
    state.onSaveStateChange = (store, err, f) => {
      if (err)
        this.log.error({ store, err: err.message }, 'cannot save state; keeping it in memory and retrying every cycle');
      else this.log.info({ store, since: f.since, failedAttempts: f.failedAttempts }, 'state saved again');
    };
  }

  /**
   * Opens the state directory (taking the lock unless dry-run: throws LockHeldError when another agent holds
   * it) and loads the persisted state: last applied target, backoff, restart counts.
   */
  static async open(opts: AgentOptions): Promise<Agent> {
    const state = await StateDir.open(opts.config.stateDir, { lock: !opts.config.dryRun });
    const took = state.lock?.tookOverFrom;
    if (took)
      opts.log.warn(
        {
          lock: state.lock!.path,
          reason: took.reason,
          previousPid: took.info?.pid ?? null,
          previousSince: took.info?.acquiredAt ?? null,
        },
        `stale state directory lock taken over (${took.reason})`,
      );
    try {
      const agent = new Agent(opts, state);
      await agent.loadPersisted();
      return agent;
    } catch (err) {
      await state.close();
      throw err;
    }
  }

  private async loadPersisted(): Promise<void> {
    this.target.current = await this.files.load();
  }

  // ───────────── lifecycle ─────────────

  /** Starts modules, runs the first cycle, then keeps cycling until `stop()`. */
  async start(): Promise<CycleResult> {
    for (const m of this.modules) await this.safely(m, 'start', () => m.start?.(this));
    const unwatchEngine = this.engine.onBack(() => this.trigger('engine-reachable'));
    const unwatchProvider = this.provider?.watch?.(() => this.trigger('target-file-changed'));
    this.unwatch = () => {
      unwatchEngine();
      unwatchProvider?.();
    };
    if (!this.config.dryRun) {
      const unwatchRequests = this.requests.watch(() => void this.takeRequests());
      const unwatchTarget = this.unwatch;
      this.unwatch = () => {
        unwatchTarget?.();
        unwatchRequests();
      };
      await this.takeRequests(); // written while no agent ran
    }
    const first = await this.reconcileNow('start');
    this.cycles.scheduleNext();
    return first;
  }

  /** Runs one cycle now (serialised with any other) and returns its result. `--once` and tests use it. */
  reconcileNow(reason = 'manual'): Promise<CycleResult> {
    return this.cycles.runNow([reason]);
  }

  /** Asks for a cycle as soon as possible (coalesced; never overlapping; at least minCycleGapMs apart). */
  trigger(reason: string): void {
    if (this.stopping) return;
    this.cycles.trigger(reason);
  }

  /** The next cycle nobody asked for: the interval, sooner when a backoff gate opens or a dependency came up. */
  private nextCycleDelay(): number | undefined {
    if (this.config.once) return undefined;
    const now = this.clock.monoNow();
    let delay = this.config.intervalMs;
    const due = this.backoff.nextDueAfter(now);
    if (due !== undefined) delay = Math.min(delay, due - now);
    if (
      this.lastResult?.plan?.skipped.some((s) => s.reason === 'waiting-dependency') &&
      this.lastResult.outcomes.some((o) => o.status === 'ok')
    )
      delay = Math.min(delay, this.config.dependencyRecheckMs);
    return delay;
  }

  /** Graceful shutdown (idempotent). */
  stop(): Promise<void> {
    this.stopPromise ??= this.doStop();
    return this.stopPromise;
  }

  private async doStop(): Promise<void> {
    this.stopping = true;
    this.cycles.stop();
    this.unwatch?.();
    this.engine.stop();
    let timedOut = false;
    await Promise.race([
      this.cycles.idle(),
      new Promise<void>((r) =>
        setTimeout(() => {
          timedOut = true;
          r();
        }, this.config.shutdownTimeoutMs).unref(),
      ),
    ]);
    if (timedOut)
      this.log.warn({ timeoutMs: this.config.shutdownTimeoutMs }, 'shutdown: the running cycle did not finish in time');
    for (const m of [...this.modules].reverse()) await this.safely(m, 'stop', () => m.stop?.());
    if (!this.config.dryRun)
      await this.files
        .save({ shuttingDown: true })
        .catch((err) => this.log.error({ err }, 'shutdown: persisting state failed'));
    await this.state.close();
    this.log.info('agent stopped');
    this.resolveStopped();
  }

  /** Resolves once `stop()` has completed (lock released). */
  whenStopped(): Promise<void> {
    return this.stopped;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  // ───────────── API for modules ─────────────

  currentTarget(): TargetSnapshot | null {
    return this.target.current;
  }

  /** Adopts a target pushed by a module (cloud, job, rollback): persisted with the next cycle, which runs now. */
  setTarget(snapshot: TargetSnapshot): void {
    this.target.adopt(snapshot);
    this.trigger('target-changed');
  }

  /** retry-now: forget the service's backoff and reconcile at once. */
  resetService(name: string): number {
    const n = this.backoff.resetService(name);
    this.log.info({ service: name, keys: n }, 'backoff reset');
    this.trigger('retry-now');
    return n;
  }

  resetAll(): void {
    this.backoff.resetAll();
    this.trigger('retry-now');
  }

  /**
   * Retry now, offline or not: forget the backoff wait of one service (or of all) and every module's recovery
   * wait for it (recovery's CrashLoopBackOff), then reconcile at once.
   */
  retryNow(service: string | undefined, reason: string): void {
    let keys: number | undefined;
    if (service) keys = this.backoff.resetService(service);
    else this.backoff.resetAll();
    for (const m of this.modules) {
      try {
        m.retryNow?.(service);
      } catch (err) {
        this.log.error({ module: m.name, err }, 'module retry-now failed');
      }
    }
    this.log.info(
      { service: service ?? '*', reason, ...(keys !== undefined ? { backoffKeys: keys } : {}) },
      'retry now',
    );
    this.trigger(reason);
  }

  /** SIGHUP, as daemons take it: re-read the target (every cycle does) and retry everything now. */
  hangup(): void {
    this.retryNow(undefined, 'sighup');
  }

  /** Acts on the command line's requests (state/requests.ts). */
  private async takeRequests(): Promise<void> {
    if (this.config.dryRun || this.stopping) return;
    for (const r of await this.requests.take().catch(() => [])) {
      if (r.kind === 'retry') this.retryNow(r.service, 'retry-requested');
      else this.trigger('cli-request');
    }
  }

  requestRestart(service: string): void {
    this.restartRequests.add(service);
    this.trigger('restart-requested');
  }

  container(service: string): ObservedContainer | undefined {
    return pickContainer(this.lastContainers, service);
  }

  containers(): readonly ObservedContainer[] {
    return this.lastContainers;
  }

  manualStops(): Promise<Set<string>> {
    return this.state.markers.list();
  }

  reports(): ServiceReport[] {
    return this.status.reports();
  }

  lastCycle(): CycleResult | undefined {
    return this.lastResult;
  }

  onCycle(fn: (r: CycleResult) => void): () => void {
    this.cycleListeners.add(fn);
    return () => this.cycleListeners.delete(fn);
  }

  /** Health verdict used by the planner and the healthy-reset: modules first, else "container running". */
  isHealthy(service: string): boolean {
    for (const m of this.modules) {
      const v = m.isHealthy?.(service);
      if (v !== undefined) return v;
    }
    return pickContainer(this.lastContainers, service)?.state === 'running';
  }

  // ───────────── the cycle ─────────────

  private async cycle(reasons: string[]): Promise<CycleResult> {
    const t0 = this.clock.monoNow();
    const ctx: CycleContext = {
      n: ++this.cycleNo,
      reasons,
      startedMono: t0,
      target: null,
      observation: null,
      manualStops: new Set(),
      holds: new Map(),
      restartRequests: new Set(this.restartRequests),
      plan: null,
      outcomes: [],
    };
    this.restartRequests.clear();
    let engineError: string | undefined;

    for (const m of this.modules) await this.safely(m, 'beforeCycle', () => m.beforeCycle?.(ctx));
    await this.takeRequests(); // in case the directory watch missed one
    await this.target.refresh();
    ctx.target = this.target.current;
    try {
      ctx.manualStops = await this.state.markers.list();
    } catch (err) {
      this.log.error({ err }, 'cannot read manual-stop markers');
    }

    try {
      const images = ctx.target ? Object.values(ctx.target.target.services).map((s) => s.image) : [];
      ctx.observation = await observe(this.docker, this.config.agentId, images);
      if (!this.config.dryRun)
        await renameLegacyContainers(this.docker, this.config.namePrefix, ctx.observation.containers, this.log);
      this.lastContainers = ctx.observation.containers;
      this.engine.markUp();
    } catch (err) {
      if (isEngineUnreachable(err)) this.engine.markDown((err as Error).message);
      engineError = `engine unreachable: ${(err as Error).message}`;
      this.log.error({ err: (err as Error).message }, 'cannot observe the engine');
    }

    if (ctx.observation) {
      for (const m of this.modules) await this.safely(m, 'beforePlan', () => m.beforePlan?.(ctx));
      ctx.plan = makePlan({
        target: ctx.target?.target ?? null,
        targetVersion: ctx.target?.version,
        containers: ctx.observation.containers,
        presentImages: ctx.observation.presentImages,
        gates: this.backoff.gates(this.clock.monoNow()),
        manualStops: ctx.manualStops,
        holds: ctx.holds,
        restartRequests: ctx.restartRequests,
        isHealthy: (s) => this.isHealthy(s),
        now: this.clock.monoNow(),
      });
      if (this.config.dryRun) {
        this.log.info(
          {
            steps: ctx.plan.steps.map(describeStep),
            skipped: ctx.plan.skipped.map((s) => `${s.service}: ${s.reason}${s.detail ? ` (${s.detail})` : ''}`),
          },
          `dry run: ${ctx.plan.steps.length} step(s) planned, nothing executed`,
        );
      } else if (ctx.plan.steps.length) {
        this.log.info({ steps: ctx.plan.steps.map(describeStep) }, `executing ${ctx.plan.steps.length} step(s)`);
        ctx.outcomes = await this.executor.run(
          ctx.plan.steps,
          (o) => this.book(o),
          () => this.stopping,
          // `fleetmedic-agent stop` may run while this cycle executes: never bring a just-marked service back.
          async (step) =>
            step.services.length && (await this.state.markers.anyOf(step.services))
              ? 'manual-stop marker set meanwhile'
              : undefined,
        );
        try {
          this.lastContainers = await listOwnedContainers(this.docker, this.config.agentId);
        } catch {
          /* keep the pre-execution view */
        }
      }
    }

    const restartCounts = this.status.restartCounts();
    // Not awaited: a read lands by the next status update (see start-times.ts for why a cycle never waits).
    this.startTimes.refresh(this.lastContainers, (service) => restartCounts[service] ?? 0, this.clock.monoNow());
    this.updateStatus(ctx);
    this.prevManualStops = ctx.manualStops;
    // A failure is logged once when it starts (StateDir.onSaveStateChange) and reported with every cycle.
    if (!this.config.dryRun) await this.files.save({ shuttingDown: this.stopping }).catch(() => {});

    const services = this.status.reports();
    const errors: CycleError[] = [];
    for (const o of ctx.outcomes)
      if (o.status === 'failed')
        errors.push({
          service: o.step.services[0] ?? ('service' in o.step ? o.step.service : undefined),
          step: o.step.action,
          type: o.error.type,
          message: o.error.message,
        });
    for (const s of services)
      if (s.error && !errors.some((e) => e.service === s.name))
        errors.push({ service: s.name, type: s.error.type, message: s.error.message });
    if (engineError) errors.push({ type: 'EngineUnreachable', message: engineError });
    const { error: targetError, current: desired } = this.target;
    if (targetError) errors.push({ type: 'TargetUnavailable', message: targetError });
    for (const f of this.state.saveFailures())
      errors.push({
        type: 'StateSaveFailed',
        message: `${f.store} not saved since ${f.since} (${f.failedAttempts} attempts): ${f.message}`,
      });
    const reconcileErrors = services.some((s) => s.error && this.backoff.activeFor(s.name).length > 0);
    const result: CycleResult = {
      n: ctx.n,
      reasons,
      success:
        !engineError &&
        !ctx.outcomes.some((o) => o.status === 'failed') &&
        !reconcileErrors &&
        !this.target.invalid &&
        !(targetError && !desired),
      durationMs: this.clock.monoNow() - t0,
      finishedAt: new Date(this.clock.wallNow()).toISOString(),
      dryRun: this.config.dryRun,
      ...(engineError ? { engineError } : {}),
      ...(targetError ? { targetError } : {}),
      ...(desired ? { targetVersion: desired.version } : {}),
      plan: ctx.plan,
      outcomes: ctx.outcomes,
      errors,
      services,
    };
    for (const m of this.modules) await this.safely(m, 'afterCycle', () => m.afterCycle?.(ctx, result));
    if (!this.config.dryRun)
      await writeCycleOutputs(result, {
        config: this.config,
        clock: this.clock,
        state: this.state,
        startedAt: this.startedAt,
        target: this.target.current,
      }).catch((err) => this.log.error({ err }, 'writing health.json / metrics failed'));
    this.lastResult = result;
    this.cycles.cycleEnded();
    const failed = ctx.outcomes.filter((o) => o.status === 'failed').length;
    this.log[failed || engineError ? 'warn' : ctx.outcomes.length ? 'info' : 'debug'](
      {
        cycle: ctx.n,
        reasons,
        durationMs: Math.round(result.durationMs),
        steps: ctx.outcomes.length,
        failed,
        success: result.success,
      },
      'reconcile cycle done',
    );
    for (const l of this.cycleListeners) {
      try {
        l(result);
      } catch (err) {
        this.log.error({ err }, 'cycle listener failed');
      }
    }
    return result;
  }

  /** Books one step outcome: backoff success/failure, restart counts, logs. */
  private book(o: StepOutcome): void {
    const { step } = o;
    if (o.status === 'ok') {
      this.backoff.recordSuccess(step.key);
      const crashed = step.action === 'startContainer' && step.exitedBefore && !this.prevManualStops.has(step.service);
      if (crashed || step.action === 'restartContainer') this.status.recordRestart(step.service);
      return;
    }
    if (o.status === 'blocked' || o.status === 'skipped') return;
    if (isEngineUnreachable(o.error)) {
      // The engine went away during the cycle: the step was not refused, it was not run. No backoff for it.
      this.engine.markDown(o.error.message);
      this.log.warn(
        { step: step.action, key: step.key, err: o.error.message },
        `${step.action} could not reach the engine; not counted`,
      );
      return;
    }
    const e = this.backoff.recordFailure(
      step.key,
      {
        action: step.action,
        services: step.services,
        type: o.error.type,
        message: o.error.message,
        permanent: o.error.permanent,
      },
      this.clock.monoNow(),
      this.clock.wallNow(),
    );
    this.log.warn(
      {
        step: step.action,
        key: step.key,
        services: step.services,
        type: o.error.type,
        permanent: o.error.permanent,
        attempt: e.attempts,
        quarantined: e.quarantined,
        retryInMs: e.nextRetryMono === null ? null : Math.round(e.nextRetryMono - this.clock.monoNow()),
        err: o.error.message,
      },
      `${step.action} failed; continuing with the other steps`,
    );
  }

  private updateStatus(ctx: CycleContext): void {
    const target = ctx.target?.target;
    if (!target) return;
    const waiting = new Map(
      (ctx.plan?.skipped ?? [])
        .filter((s) => s.reason === 'waiting-dependency')
        .map((s) => [s.service, s.detail ?? '']),
    );
    const now = this.clock.monoNow();
    for (const [name, spec] of Object.entries(target.services)) {
      const c = pickContainer(this.lastContainers, name);
      const active = this.backoff.activeFor(name);
      const manuallyStopped = ctx.manualStops.has(name);
      this.status.setView(name, {
        image: spec.image,
        ...(c ? { containerId: c.id, containerState: c.state } : {}),
        ...(c && this.startTimes.get(c.id) ? { startedAt: this.startTimes.get(c.id) } : {}),
        manuallyStopped,
        ...(waiting.has(name) ? { waitingFor: waiting.get(name) } : {}),
        error: active[0] ? errorFromBackoff(active[0], this.clock) : null,
      });
      const healthy =
        !!c &&
        !manuallyStopped &&
        c.state === 'running' &&
        c.specHash === specHash(spec) &&
        active.length === 0 &&
        this.isHealthy(name);
      if (!this.config.dryRun && this.backoff.noteHealth(name, healthy, now))
        this.log.info({ service: name }, 'healthy long enough: backoff reset');
    }
  }

  private async safely(m: AgentModule, hook: string, fn: () => unknown): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.log.error({ module: m.name, hook, err }, 'module hook failed; the cycle goes on');
    }
  }
}

function pickContainer(list: readonly ObservedContainer[], service: string): ObservedContainer | undefined {
  const mine = list.filter((c) => c.owned && c.service === service);
  return mine.find((c) => c.state === 'running') ?? mine.sort((a, b) => b.created - a.created)[0];
}

export function describeStep(s: Plan['steps'][number]): string {
  return s.action === 'pullImage'
    ? `pull ${s.image}`
    : `${s.action.replace('Container', '')} ${s.service} (${s.reason})`;
}
