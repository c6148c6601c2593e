/**
 * RecoveryController: the running half of auto-recovery. It owns the health-check scheduler and the recovery
 * policy, and acts on containers only through its engine operations (`RecoveryOps`: the executor's restart,
 * recreate, pull and inspect); the health checks and the event stream read the engine on their own.
 *
 * Division of labour with the reconcile loop:
 * - the loop (planner) brings the target up: creates, starts never-started containers, applies spec changes;
 * - this module takes over once a service's container has been running: it failed its checks, or it exited,
 *   or it died. While it does (an action in flight, re-checking, waiting for a dependency, CrashLoopBackOff),
 *   the service is HELD (`holds()`), so the planner does not restart it behind the rate limit's back.
 * - `isHealthy()` is the planner's dependency gate ("a dependent starts only once its dependency is healthy").
 *
 * Detection between reconcile cycles: the health checks (a failed check that finds the container stopped is
 * unhealthy at once), and `containerDied()` for the engine's `die` events (events.ts).
 * One timer: the health scheduler's; plus one controller timer for re-checks of services without a health
 * check and for the end of a CrashLoopBackOff window.
 *
 * Engine outages (docs/architecture.md, "Engine outages"): while the engine is unreachable (EngineWatch),
 * every service's verdict is `unknown`, so nothing is decided and nothing counted; an action that could not
 * reach the engine is taken back (rate-limit entry, count, ladder); checks that could not be run change no
 * verdict. When the engine answers again every check runs at once and the event stream reconnects, so a
 * container that died meanwhile is restarted within a check's time, from where its incident was.
 *
 * Longer than the ~400 lines a file keeps to: it is the one place where check results, engine events, engine
 * outages and the policy's decisions meet; the policy itself (policy.ts) and the checks (health/) are apart.
 */
import type Docker from 'dockerode';
import type { HealthCheckResult, ServiceError } from '#contract/report.js';
import type { ServiceSpec } from '#contract/target-state.js';
import { monoToIso, type Clock } from '../clock.js';
import type { ContainerState } from '../planner/types.js';
import type { StatusBook } from '../status/book.js';
import { EngineWatch, isEngineUnreachable } from '../engine/availability.js';
import { HealthChecker } from '../health/checker.js';
import { ContainerEvents } from '../health/container-events.js';
import { HealthScheduler, type Timers } from '../health/scheduler.js';
import type { HealthTrack } from '../health/tracker.js';
import type { HealthVerdict } from '../health/verdict.js';
import {
  DEFAULT_RECOVERY_CONFIG,
  RecoveryPolicy,
  type PlannedAction,
  type RecoveryConfig,
  type RecoveryEvent,
  type ServiceObservation,
} from './policy.js';

/** The engine operations recovery needs (the reconcile Executor provides them). */
export interface RecoveryOps {
  /** The container's state, or null when it no longer exists; throws when the engine cannot tell. */
  inspect(containerId: string): Promise<{ status: ContainerState; running: boolean } | null>;
  restart(containerId: string): Promise<void>;
  recreate(
    service: string,
    spec: ServiceSpec,
    oldContainerId: string | undefined,
    targetVersion?: string,
  ): Promise<string>;
  pull(ref: string): Promise<void>;
}

export interface RecoveryLog {
  info(data: Record<string, unknown>, msg: string): void;
  warn(data: Record<string, unknown>, msg: string): void;
  error(data: Record<string, unknown>, msg: string): void;
}

/** One target service as the reconcile loop last saw it. */
export interface ServiceInput {
  name: string;
  spec: ServiceSpec;
  containerId?: string;
  state?: ContainerState;
  manualStop: boolean;
  targetVersion?: string;
}

export interface RecoveryControllerOptions {
  clock: Clock;
  docker: Docker;
  ops: RecoveryOps;
  log: RecoveryLog;
  book?: StatusBook;
  policy?: RecoveryConfig;
  /** Re-check delay for services without a health check. */
  defaultStartupDelayMs?: number;
  timers?: Timers;
  /** Runs a check (default: HealthChecker on `docker`); injectable for tests. */
  checker?: HealthChecker;
  /** The agent's engine up/down flag (default: one of its own on `docker`). */
  engine?: EngineWatch;
  /** Time the engine gets to start an exec check or answer an inspect (exec-probes.ts). */
  engineAllowanceMs?: number;
  /**
   * Reads the manual-stop marker directly (the CLI writes it while the agent runs, typically right before
   * stopping the container): checked before every action, so a stop is never undone by a die event that
   * arrives before the next cycle read the markers.
   */
  isManuallyStopped?: (service: string) => Promise<boolean>;
  /** Something reportable changed (a check flipped, an action started or ended). */
  onChange?: (service: string) => void;
  /** Awaited before an action runs (persist the decision first). */
  beforeAction?: (action: PlannedAction) => Promise<void>;
  /** An action completed (the loop may want a cycle to refresh its view). */
  onAction?: (action: PlannedAction, ok: boolean) => void;
}

interface Known {
  input: ServiceInput;
  /** Engine state as last known (cycle, check, event, our own action). */
  state?: ContainerState;
  containerId?: string;
  /** Monotonic time `state` was learnt. */
  stateAt: number;
  /** An action for this service is running. */
  busy: boolean;
  /**
   * A person stopped it (marker) and has not seen it run since: once the marker is removed, bringing it back
   * is the planner's plain start, not a recovery incident (and not a restart).
   */
  stoppedByHand: boolean;
}

const HISTORY_LIMIT = 100;
const RUNNING = new Set<ContainerState>(['running']);
const DOWN = new Set<ContainerState>(['exited', 'dead', 'stopped']);

export class RecoveryController {
  readonly scheduler: HealthScheduler;
  readonly policy: RecoveryPolicy;
  readonly checker: HealthChecker;
  private readonly known = new Map<string, Known>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  private stopped = false;
  private reconciling = new Set<string>();
  private events: ContainerEvents | null = null;
  private readonly startupDefault: number;
  readonly engine: EngineWatch;
  private readonly ownEngine: boolean;
  private readonly unwatchEngine: () => void;
  /**
   * The last actions performed, oldest first (tests, bench). Bounded: a service that crash-loops for months
   * would otherwise grow it forever.
   */
  readonly history: Array<{ at: number; service: string; action: string; ok: boolean }> = [];

  constructor(private readonly opts: RecoveryControllerOptions) {
    this.checker =
      opts.checker ??
      new HealthChecker(
        opts.docker,
        opts.engineAllowanceMs !== undefined ? { engineAllowanceMs: opts.engineAllowanceMs } : {},
      );
    this.policy = new RecoveryPolicy(opts.policy ?? DEFAULT_RECOVERY_CONFIG);
    this.startupDefault = opts.defaultStartupDelayMs ?? 5000;
    this.ownEngine = !opts.engine;
    this.engine = opts.engine ?? new EngineWatch({ docker: opts.docker });
    this.unwatchEngine = this.engine.onBack(() => this.engineBack());
    this.scheduler = new HealthScheduler({
      clock: opts.clock,
      timers: opts.timers,
      runCheck: (id, spec) => this.checker.check(id, spec),
      onResult: (name, result, track) => this.onCheck(name, result, track),
      onUnknown: (name, outcome, track) => this.onUnknownCheck(name, outcome.message ?? '', outcome.unknown, track),
    });
  }

  /**
   * The reconcile loop's view after observing the engine (call it BEFORE planning, so holds are current).
   * Services not listed left the target and are forgotten. `reconciling`: services the loop is about to
   * change (create, recreate for a new spec, start a never-started container, a requested restart): their
   * failures meanwhile are not incidents, and they are not held. The next sync without it clears it.
   */
  sync(services: readonly ServiceInput[], reconciling: Iterable<string> = []): void {
    const now = this.opts.clock.monoNow();
    this.reconciling = new Set(reconciling);
    const names = new Set(services.map((s) => s.name));
    for (const name of [...this.known.keys()]) if (!names.has(name)) this.known.delete(name);
    this.policy.retain(names);
    for (const s of services) {
      const k = this.known.get(s.name);
      if (!k)
        this.known.set(s.name, {
          input: s,
          state: s.state,
          containerId: s.containerId,
          stateAt: now,
          busy: false,
          stoppedByHand: s.manualStop,
        });
      else {
        if (s.manualStop) k.stoppedByHand = true;
        else if (s.state && RUNNING.has(s.state)) k.stoppedByHand = false;
        k.input = s;
        if (!k.busy) {
          k.state = s.state;
          k.containerId = s.containerId;
          k.stateAt = now;
        }
      }
      this.syncCheck(s.name);
    }
    this.scheduler.retain(
      [...this.known.entries()].filter(([, k]) => k.input.spec.healthCheck && k.containerId).map(([n]) => n),
    );
    // Addresses of containers that were replaced (a recreate makes a new id each time) are never asked for again.
    this.checker.retain(this.scheduler.containerIds());
    this.decide();
  }

  /**
   * The engine says a container of ours died (container-events.ts): confirm with an inspect (the event may
   * be late news of our own restart, or of the loop replacing it) and act without waiting for a check.
   */
  async containerDied(service: string, containerId: string): Promise<void> {
    const k = this.known.get(service);
    if (!k || k.busy || this.reconciling.has(service) || k.containerId !== containerId) return;
    let running: boolean | undefined;
    try {
      running = (await this.opts.ops.inspect(containerId))?.running ?? false;
    } catch {
      // The engine could not tell: no verdict from this event; the checks and the next cycle will see.
    }
    if (running !== false || k.busy || this.reconciling.has(service) || k.containerId !== containerId) return;
    k.state = 'exited';
    k.stateAt = this.opts.clock.monoNow();
    this.decide();
  }

  services(): string[] {
    return [...this.known.keys()];
  }

  knows(service: string): boolean {
    return this.known.has(service);
  }

  /** Forget the service's incident and rate-limit history (retry-now job, or its spec changed). */
  resetService(service: string): void {
    this.policy.reset(service);
    this.decide();
  }

  /** Services the planner must leave alone right now, with the reason. */
  holds(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [name, k] of this.known) {
      if (this.reconciling.has(name)) continue;
      if (k.busy) {
        out.set(name, 'recovery action in progress');
        continue;
      }
      const phase = this.policy.state(name).phase;
      if (phase === 'verifying' || phase === 'crash-loop' || phase === 'waiting-dependency')
        out.set(name, `recovery: ${phase}`);
      // An exited container of a service that ran is recovery's (rate-limited) business, not a plain start.
      else if (k.state && DOWN.has(k.state) && !k.input.manualStop && !k.stoppedByHand)
        out.set(name, 'recovery: container exited');
    }
    return out;
  }

  /** Dependency gate: a running container whose checks pass (or, without a check, that runs). */
  isHealthy(service: string): boolean {
    const k = this.known.get(service);
    if (!k?.state || !RUNNING.has(k.state) || k.busy) return false;
    if (!k.input.spec.healthCheck) return true;
    return this.scheduler.track(service)?.verdict === 'healthy';
  }

  /**
   * Operator-requested restart (restart-service job): not rate-limited, not an incident. A restart the engine
   * refused fails the job: the cloud's retry policy and circuit breaker must see it, not a success.
   */
  async restartService(service: string): Promise<void> {
    const k = this.known.get(service);
    if (!k?.containerId) throw new Error(`service ${service} has no container to restart`);
    const failure = await this.perform({ service, action: 'restart', reason: 'requested by a job', rung: 1 }, false);
    if (failure !== undefined) throw new Error(`restart of ${service} failed: ${failure}`);
  }

  /** run-health-check job: runs the service's check now. */
  checkNow(service: string): Promise<HealthCheckResult | null> {
    return this.scheduler.checkNow(service);
  }

  lastCheck(service: string): HealthCheckResult | null {
    return this.scheduler.track(service)?.last ?? null;
  }

  /** Starts watching the engine's die events for this agent's containers (optional; see container-events.ts). */
  async watchEvents(agentId: string): Promise<void> {
    this.events = new ContainerEvents({
      docker: this.opts.docker,
      agentId,
      onEvent: (e) => void this.containerDied(e.service, e.containerId),
      onError: (err) =>
        this.opts.log.warn({ err: err.message }, 'engine event stream interrupted; health checks still watch'),
    });
    await this.events.start();
  }

  stop(): void {
    this.stopped = true;
    this.unwatchEngine();
    if (this.ownEngine) this.engine.stop();
    this.events?.stop();
    this.scheduler.stop();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  // ---- internals ----

  private syncCheck(name: string): void {
    const k = this.known.get(name)!;
    const spec = k.input.spec.healthCheck;
    if (!spec || !k.containerId || k.input.manualStop) {
      this.scheduler.remove(name);
      return;
    }
    if (k.state && RUNNING.has(k.state)) this.scheduler.upsert(name, k.containerId, spec);
  }

  private onCheck(name: string, result: HealthCheckResult, track: HealthTrack): void {
    const k = this.known.get(name);
    this.opts.book?.setHealth(name, result);
    if (k && !k.busy && track.notRunning) {
      k.state = 'exited';
      k.stateAt = this.opts.clock.monoNow();
    } else if (k && !k.busy && result.healthy) {
      k.state = 'running';
    }
    this.opts.onChange?.(name);
    this.decide();
  }

  /** A check could not be run: no verdict changes; an unreachable engine is looked for until it answers. */
  private onUnknownCheck(name: string, message: string, why: string | undefined, track: HealthTrack): void {
    if (why === 'engine-unreachable') this.engine.markDown(message);
    // Logged when it starts and every 10th time after, not on every interval of a long outage.
    if (track.unknownInARow === 1 || track.unknownInARow % 10 === 0)
      this.opts.log.warn(
        { service: name, why, inARow: track.unknownInARow, err: message },
        'health check could not be run; verdict unchanged',
      );
  }

  /** The engine answers again: learn at once what happened meanwhile (checks, events, container states). */
  private engineBack(): void {
    if (this.stopped) return;
    this.events?.reconnectNow();
    this.scheduler.allDueNow();
    this.decide();
  }

  private observation(name: string, k: Known, now: number): ServiceObservation {
    const spec = k.input.spec;
    const startupDelayMs = this.startupDelayOf(k);
    let health: HealthVerdict;
    let healthAt = now;
    if (this.engine.isDown())
      health = 'unknown'; // nothing can be learnt or done: decide nothing, count nothing
    else if (
      k.busy ||
      this.reconciling.has(name) ||
      !k.state ||
      k.state === 'created' ||
      k.state === 'restarting' ||
      k.state === 'removing' ||
      k.state === 'unknown'
    )
      health = 'pending';
    else if (DOWN.has(k.state) && k.stoppedByHand)
      health = 'pending'; // marker just removed: the planner starts it
    else if (DOWN.has(k.state)) {
      health = 'unhealthy';
      healthAt = k.stateAt;
    } else if (k.state === 'paused') health = 'unhealthy';
    else if (spec.healthCheck) {
      const t = this.scheduler.track(name);
      health = t?.verdict ?? 'pending';
      healthAt = t?.verdictAt ?? now;
    } else {
      health = 'healthy';
      healthAt = k.stateAt; // without a check, "healthy" is only as fresh as the last look at the container
    }
    return { name, dependsOn: spec.dependsOn, health, healthAt, manualStop: k.input.manualStop, startupDelayMs };
  }

  private startupDelayOf(k: Known): number {
    const check = k.input.spec.healthCheck;
    return check ? check.startupDelaySeconds * 1000 : this.startupDefault;
  }

  private decide(): void {
    if (this.stopped) return;
    const now = this.opts.clock.monoNow();
    const observations = [...this.known.entries()].map(([name, k]) => this.observation(name, k, now));
    const { actions, events } = this.policy.decide(observations, now);
    for (const e of events) this.tell(e);
    for (const a of actions) void this.perform(a, true);
    this.publish(now);
    this.armTimer(now);
  }

  /** Runs one action; answers why it failed, or undefined when it was done (or not started: busy, marker). */
  private async perform(action: PlannedAction, fromPolicy: boolean): Promise<string | undefined> {
    const k = this.known.get(action.service);
    if (!k || k.busy) return undefined;
    k.busy = true;
    if (fromPolicy && (await this.opts.isManuallyStopped?.(action.service).catch(() => false))) {
      // The marker appeared after the last sync: hands off, and tell the policy (it forgets the incident).
      k.busy = false;
      k.input = { ...k.input, manualStop: true };
      this.opts.log.info({ service: action.service }, 'manual-stop marker found; recovery skipped');
      this.decide();
      return undefined;
    }
    this.opts.onChange?.(action.service);
    const startedAt = this.opts.clock.monoNow();
    let ok = false;
    let notRun = false;
    let failure: string | undefined;
    try {
      if (fromPolicy) await this.opts.beforeAction?.(action).catch(() => {});
      const id = await this.execute(action, k);
      ok = true;
      k.containerId = id;
      k.state = 'running';
      k.stateAt = this.opts.clock.monoNow();
      this.checker.forget(id);
      const doneAt = k.stateAt;
      this.policy.actionCompleted(action.service, doneAt, this.startupDelayOf(k));
      if (k.input.spec.healthCheck) {
        this.scheduler.upsert(action.service, id, k.input.spec.healthCheck, doneAt);
        this.scheduler.restarted(action.service, doneAt, id);
      }
      this.opts.book?.recordRestart(action.service);
      this.opts.log.info(
        {
          service: action.service,
          action: action.action,
          rung: action.rung,
          reason: action.reason,
          ms: Math.round(k.stateAt - startedAt),
        },
        'recovery action done',
      );
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      failure = message;
      // Could the engine be asked at all? Then the action did not happen and costs nothing.
      notRun = isEngineUnreachable(err) || !(await this.engine.probe());
      if (notRun) {
        this.engine.markDown(message);
        if (fromPolicy) this.policy.actionNotRun(action);
        this.opts.log.warn(
          { service: action.service, action: action.action, err: message },
          'recovery action could not reach the engine; not counted, waiting for the engine',
        );
      } else {
        if (fromPolicy) this.policy.actionFailed(action.service, this.opts.clock.monoNow(), message);
        this.opts.log.warn({ service: action.service, action: action.action, err: message }, 'recovery action failed');
      }
      k.stateAt = this.opts.clock.monoNow();
    } finally {
      k.busy = false;
      if (!notRun) this.history.push({ at: startedAt, service: action.service, action: action.action, ok });
      if (this.history.length > HISTORY_LIMIT) this.history.splice(0, this.history.length - HISTORY_LIMIT);
      this.opts.onAction?.(action, ok);
      this.opts.onChange?.(action.service);
    }
    if (!ok && !notRun && !this.stopped) {
      // Learn the real state before deciding on the next rung.
      await this.refreshState(action.service);
    }
    this.decide();
    return failure;
  }

  private async execute(action: PlannedAction, k: Known): Promise<string> {
    const { spec, targetVersion } = k.input;
    switch (action.action) {
      case 'restart':
        if (!k.containerId) return this.opts.ops.recreate(action.service, spec, undefined, targetVersion);
        await this.opts.ops.restart(k.containerId);
        return k.containerId;
      case 'recreate':
        return this.opts.ops.recreate(action.service, spec, k.containerId, targetVersion);
      case 'repull':
        await this.opts.ops.pull(spec.image);
        return this.opts.ops.recreate(action.service, spec, k.containerId, targetVersion);
    }
  }

  private async refreshState(service: string): Promise<void> {
    const k = this.known.get(service);
    if (!k?.containerId) return;
    try {
      const found = await this.opts.ops.inspect(k.containerId);
      if (found) k.state = found.status;
      else {
        k.containerId = undefined;
        k.state = 'dead';
      }
    } catch {
      // The engine could not tell: the state stays as last known.
    }
    k.stateAt = this.opts.clock.monoNow();
  }

  /** Re-checks without a health check (container still running after the startup delay?) and crash-loop ends. */
  private armTimer(now: number): void {
    let next = Number.POSITIVE_INFINITY;
    for (const [name, k] of this.known) {
      const s = this.policy.state(name);
      if (s.phase === 'verifying' && !k.input.spec.healthCheck && s.verifyAfter !== undefined)
        next = Math.min(next, s.verifyAfter);
      if (s.phase === 'crash-loop' && s.crashLoopUntil !== undefined) next = Math.min(next, s.crashLoopUntil);
    }
    if (next === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = next;
    if (next === Number.POSITIVE_INFINITY || this.stopped) return;
    this.timer = setTimeout(() => void this.wake(), Math.max(0, Math.ceil(next - now)));
  }

  private async wake(): Promise<void> {
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.opts.clock.monoNow();
    // Services without a health check: their "re-check" is whether the container still runs.
    await Promise.all(
      [...this.known.entries()]
        .filter(
          ([name, k]) =>
            !k.busy &&
            !k.input.spec.healthCheck &&
            this.policy.state(name).phase === 'verifying' &&
            (this.policy.state(name).verifyAfter ?? 0) <= now,
        )
        .map(([name]) => this.refreshState(name)),
    );
    this.decide();
  }

  private tell(e: RecoveryEvent): void {
    switch (e.type) {
      case 'recovered':
        this.opts.log.info({ service: e.service, attempted: e.attempted }, 'service recovered');
        break;
      case 'crash-loop':
        this.opts.log.error(
          { service: e.service, attempted: e.attempted, restartsInWindow: e.restartsInWindow },
          'CrashLoopBackOff: recovery rate limit reached; needs attention if it persists',
        );
        break;
      case 'waiting-dependency':
        this.opts.log.info({ service: e.service, dependency: e.dependency }, 'recovery waits for a dependency');
        break;
    }
  }

  /** Pushes the recovery view of every service into the status book. */
  private publish(now: number): void {
    const book = this.opts.book;
    if (!book) return;
    for (const name of this.known.keys()) {
      const v = this.policy.view(name, now);
      const err: ServiceError | null = v.error
        ? {
            type: v.error.type,
            message: v.error.message,
            timestamp: new Date(this.opts.clock.wallNow()).toISOString(),
            retryCount: v.error.retryCount,
            nextRetry: v.error.nextRetryAt === null ? null : monoToIso(this.opts.clock, v.error.nextRetryAt),
            permanent: false,
            quarantined: false,
            attempted: v.error.attempted,
          }
        : null;
      const prev = book.issue(name, 'recovery');
      // Keep the first timestamp of an ongoing error so reports do not change on every decision.
      if (err && prev && prev.type === err.type && prev.message === err.message) continue;
      if (!err && !prev) continue;
      book.setIssue(name, 'recovery', err);
    }
  }
}
