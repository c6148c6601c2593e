/**
 * Auto-recovery policy, pure: no Docker, no timers, no I/O. `now` is a monotonic time in ms, so a
 * wall clock that jumps can neither stall recovery nor storm restarts.
 *
 * Per service, one incident at a time:
 *   unhealthy ─▶ restart ─▶ (startup delay) re-check ─▶ healthy: recovered (dependents are restarted next)
 *                                                   └▶ still failing: escalate restart → recreate → re-pull
 * Every action counts against a rate limit (default 3 in 5 minutes);
 * past it the service is in CrashLoopBackOff with an alert-worthy error that lists what was tried, and is
 * tried again (from the first rung) once the window has room: slowed down, never abandoned.
 * Dependencies are decided first (topological order); a dependent is acted on only when all of its
 * dependencies are healthy. A manual-stop marker suppresses everything for that service.
 *
 * A little over the ~400 lines a file keeps to: one state machine per service, every transition in one class,
 * so the rate limit and the escalation ladder cannot be bypassed by a transition defined elsewhere.
 */

import type { HealthVerdict } from '../health/verdict.js';

export type RecoveryAction = 'restart' | 'recreate' | 'repull';
/** Each rung is heavier than the one before: a fresh container, then a freshly pulled image. */
export const ESCALATION_LADDER: readonly RecoveryAction[] = ['restart', 'recreate', 'repull'];

export interface RecoveryConfig {
  /** Actions allowed per window before CrashLoopBackOff. */
  maxRestarts: number;
  /** Rate-limit window in ms. */
  windowMs: number;
}
export const DEFAULT_RECOVERY_CONFIG: RecoveryConfig = { maxRestarts: 3, windowMs: 300_000 };

export interface ServiceObservation {
  name: string;
  dependsOn: readonly string[];
  health: HealthVerdict;
  /** Monotonic ms of the check (or container observation) that produced `health`. */
  healthAt: number;
  /** A person stopped it (`fleetmedic-agent stop <service>`): hands off. */
  manualStop: boolean;
  /** The wait after an action before the re-check counts. */
  startupDelayMs: number;
}

export type RecoveryPhase = 'idle' | 'verifying' | 'waiting-dependency' | 'crash-loop' | 'manually-stopped';

export interface ServiceRecoveryState {
  phase: RecoveryPhase;
  /** Monotonic times of rate-limited actions still inside the window, oldest first. */
  recent: number[];
  /** All actions ever taken for this service (reported as restartCount). */
  totalRestarts: number;
  /** Rung of the ladder the next action of this incident uses. */
  level: number;
  /** What this incident tried so far, oldest first. */
  attempted: string[];
  lastAction?: { action: RecoveryAction; at: number; reason: string };
  /** While verifying: the re-check must be at or after this time to count. */
  verifyAfter?: number;
  /** A dependency was restarted and is healthy again: restart this one once all its dependencies are healthy. */
  restartForDependency?: string;
  /** While in CrashLoopBackOff: when the window has room again. */
  crashLoopUntil?: number;
  /** The dependency this service is waiting for. */
  waitingFor?: string;
}

export interface PlannedAction {
  service: string;
  action: RecoveryAction;
  reason: string;
  /** 1-based rung of the ladder (dependency restarts are rung 1). */
  rung: number;
  /** Monotonic ms it was decided (its entry in the rate-limit window when `rateLimited`). */
  decidedAt?: number;
  rateLimited?: boolean;
}

export type RecoveryEvent =
  | { type: 'recovered'; service: string; attempted: string[] }
  | { type: 'crash-loop'; service: string; attempted: string[]; restartsInWindow: number; until: number }
  | { type: 'waiting-dependency'; service: string; dependency: string };

export interface RecoveryDecision {
  actions: PlannedAction[];
  events: RecoveryEvent[];
}

/** The reportable view of one service's recovery (mapped onto the contract's ServiceReport by the caller). */
export interface RecoveryView {
  phase: RecoveryPhase;
  restartCount: number;
  recentRestarts: number;
  error: null | {
    type: 'CrashLoopBackOff' | 'HealthCheckFailed';
    message: string;
    retryCount: number;
    /** Monotonic ms of the next attempt, null when nothing is scheduled. */
    nextRetryAt: number | null;
    attempted: string[];
  };
}

const MAX_ATTEMPTED = 20;

/**
 * Recovery attempts by action and outcome, cumulative since `epoch` (reported to the cloud as they are: the cloud
 * counts the growth, so a report lost or sent twice neither loses nor doubles an attempt). An action succeeded when
 * the re-check after it found the service healthy, and failed when it did not (the ladder climbs).
 */
export interface RecoveryCounters {
  epoch: string;
  counts: Record<RecoveryAction, { succeeded: number; failed: number }>;
}
export function newRecoveryCounters(epoch: string): RecoveryCounters {
  return {
    epoch,
    counts: {
      restart: { succeeded: 0, failed: 0 },
      recreate: { succeeded: 0, failed: 0 },
      repull: { succeeded: 0, failed: 0 },
    },
  };
}

export interface PersistedRecovery {
  recentAgesMs: number[];
  totalRestarts: number;
  level: number;
  attempted: string[];
  crashLoopForMs: number | null;
  /** An action was taken and its re-check is still due: a restarted agent continues up the ladder. */
  verifying?: boolean;
  /** The action being verified (its outcome is counted when the re-check comes in). */
  verifyingAction?: RecoveryAction;
} // the contract's ServiceError.attempted bound

export function initialRecoveryState(): ServiceRecoveryState {
  return { phase: 'idle', recent: [], totalRestarts: 0, level: 0, attempted: [] };
}

/** Dependencies before dependents; names outside the observed set are ignored; cycles cannot loop. */
export function dependencyOrder(observations: readonly Pick<ServiceObservation, 'name' | 'dependsOn'>[]): string[] {
  const byName = new Map(observations.map((o) => [o.name, o]));
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    for (const dep of byName.get(name)?.dependsOn ?? []) if (byName.has(dep)) visit(dep);
    out.push(name);
  };
  for (const o of [...observations].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) visit(o.name); // not localeCompare (ICU: ~3 MB RSS)
  return out;
}

export class RecoveryPolicy {
  private readonly states = new Map<string, ServiceRecoveryState>();
  /** Replaced by the caller with the persisted counters (and their epoch) when there are some. */
  counters: RecoveryCounters = newRecoveryCounters(`e${Date.now().toString(36)}`);

  constructor(private readonly config: RecoveryConfig = DEFAULT_RECOVERY_CONFIG) {}

  state(service: string): ServiceRecoveryState {
    let s = this.states.get(service);
    if (!s) {
      s = initialRecoveryState();
      this.states.set(service, s);
    }
    return s;
  }

  /** Forget a service's incident and rate-limit history (retry-now, or a new spec). */
  reset(service: string): void {
    const total = this.states.get(service)?.totalRestarts ?? 0;
    this.states.set(service, { ...initialRecoveryState(), totalRestarts: total });
  }

  /** Forget services that left the target. */
  retain(names: Iterable<string>): void {
    const keep = new Set(names);
    for (const name of [...this.states.keys()]) if (!keep.has(name)) this.states.delete(name);
  }

  /**
   * One decision round over every service. Mutates only this policy's own state; returns the actions to
   * perform (in dependency order) and what is worth telling.
   */
  decide(observations: readonly ServiceObservation[], now: number): RecoveryDecision {
    const actions: PlannedAction[] = [];
    const events: RecoveryEvent[] = [];
    const byName = new Map(observations.map((o) => [o.name, o]));
    this.retain(byName.keys());

    for (const name of dependencyOrder(observations)) {
      const obs = byName.get(name)!;
      const s = this.state(name);
      this.pruneWindow(s, now);

      if (obs.manualStop) {
        // Hands off; the incident is forgotten so removing the marker starts from a clean slate.
        this.endIncident(s);
        s.phase = 'manually-stopped';
        delete s.restartForDependency;
        continue;
      }
      if (s.phase === 'manually-stopped') s.phase = 'idle';

      let unhealthy = obs.health === 'unhealthy';
      if (s.phase === 'verifying') {
        if (obs.health === 'pending' || obs.health === 'unknown' || obs.healthAt < (s.verifyAfter ?? 0)) continue; // re-check not in yet
        if (obs.health === 'healthy') {
          if (s.lastAction) this.counters.counts[s.lastAction.action].succeeded++;
          events.push({ type: 'recovered', service: name, attempted: [...s.attempted] });
          this.endIncident(s);
          // Dependents restart after a dependency was restarted, once it is healthy again.
          for (const other of observations)
            if (other.dependsOn.includes(name)) this.state(other.name).restartForDependency = name;
          continue;
        }
        // The action did not help: climb the ladder (the rate limit decides below whether we may).
        if (s.lastAction) this.counters.counts[s.lastAction.action].failed++;
        s.level = Math.min(s.level + 1, ESCALATION_LADDER.length - 1);
        s.phase = 'idle';
        unhealthy = true; // one failed re-check is enough here, no threshold
      }

      if (obs.health === 'healthy') {
        if (s.phase !== 'idle') this.endIncident(s);
        if (s.restartForDependency) {
          const blocker = this.unhealthyDependency(obs, byName);
          if (blocker) continue; // restart it only once every dependency is healthy
          const dep = s.restartForDependency;
          delete s.restartForDependency;
          // Not rate-limited: the failure was the dependency's, and that one is rate-limited itself.
          actions.push(this.act(s, obs, now, 'restart', `dependency ${dep} was restarted`, false));
        }
        continue;
      }

      if (!unhealthy) continue; // failing below threshold, or no verdict yet

      const blocker = this.unhealthyDependency(obs, byName);
      if (blocker) {
        if (s.phase !== 'waiting-dependency' || s.waitingFor !== blocker)
          events.push({ type: 'waiting-dependency', service: name, dependency: blocker });
        s.phase = 'waiting-dependency';
        s.waitingFor = blocker;
        continue;
      }
      delete s.waitingFor;

      if (s.recent.length >= this.config.maxRestarts) {
        const until = s.recent[0]! + this.config.windowMs;
        if (s.phase !== 'crash-loop')
          events.push({
            type: 'crash-loop',
            service: name,
            attempted: [...s.attempted],
            restartsInWindow: s.recent.length,
            until,
          });
        s.phase = 'crash-loop';
        s.crashLoopUntil = until;
        continue;
      }
      if (s.phase === 'crash-loop') {
        // The window has room again: a fresh, slower round starting from the lightest action.
        s.level = 0;
        delete s.crashLoopUntil;
      }
      const action = ESCALATION_LADDER[s.level]!;
      const reason = s.level === 0 ? 'unhealthy' : `${ESCALATION_LADDER[s.level - 1]} did not help`;
      actions.push(this.act(s, obs, now, action, reason, true));
    }
    return { actions, events };
  }

  /**
   * The action finished at `now`: the startup delay counts from here, not from the decision (a recreate or a
   * re-pull can take longer than the delay itself).
   */
  actionCompleted(service: string, now: number, startupDelayMs: number): void {
    const s = this.state(service);
    if (s.phase === 'verifying') s.verifyAfter = Math.max(s.verifyAfter ?? 0, now + startupDelayMs);
  }

  /** The caller could not even perform the action (engine error): it counts as a failed attempt. */
  actionFailed(service: string, now: number, message: string): void {
    const s = this.state(service);
    s.attempted = capAttempted([...s.attempted, `failed: ${message.slice(0, 150)}`]);
    if (s.phase === 'verifying') {
      s.verifyAfter = now; // the next verdict decides; a failed action will not have made it healthy
    }
  }

  /**
   * The action could not reach the engine (it is unreachable): it never happened. Its rate-limit entry, its
   * count and its line in `attempted` are taken back, and the service waits, idle at the same rung of the
   * ladder, for a verdict that can be trusted: once the engine is back, the same action is decided again.
   */
  actionNotRun(action: PlannedAction): void {
    const s = this.state(action.service);
    if (action.rateLimited && action.decidedAt !== undefined) {
      const i = s.recent.lastIndexOf(action.decidedAt);
      if (i >= 0) s.recent.splice(i, 1);
    }
    s.totalRestarts = Math.max(0, s.totalRestarts - 1);
    if (s.attempted.at(-1) === action.action) s.attempted.pop();
    if (s.phase === 'verifying') {
      s.phase = 'idle';
      delete s.verifyAfter;
    }
  }

  view(service: string, now: number): RecoveryView {
    const s = this.state(service);
    this.pruneWindow(s, now);
    const base = { phase: s.phase, restartCount: s.totalRestarts, recentRestarts: s.recent.length };
    if (s.phase === 'crash-loop') {
      const attempted = s.attempted.join(', ') || 'nothing';
      return {
        ...base,
        error: {
          type: 'CrashLoopBackOff',
          message:
            `still unhealthy after ${s.recent.length} recovery actions within ${Math.round(this.config.windowMs / 1000)}s ` +
            `(attempted: ${attempted}); next attempt when the rate limit allows. Needs a person if it persists.`,
          retryCount: s.recent.length,
          nextRetryAt: s.crashLoopUntil ?? null,
          attempted: [...s.attempted],
        },
      };
    }
    if (s.phase === 'verifying' || s.phase === 'waiting-dependency') {
      const message =
        s.phase === 'waiting-dependency'
          ? `unhealthy; waiting for dependency ${s.waitingFor} to be healthy before recovering`
          : `unhealthy; ${s.lastAction?.action ?? 'restart'} done, re-checking (${s.lastAction?.reason ?? ''})`;
      return {
        ...base,
        error: {
          type: 'HealthCheckFailed',
          message,
          retryCount: s.recent.length,
          nextRetryAt: s.verifyAfter ?? null,
          attempted: [...s.attempted],
        },
      };
    }
    return { ...base, error: null };
  }

  /**
   * What survives an agent restart, with times as ages (monotonic values mean nothing in another process):
   * the rate-limit history, restart totals, the ladder position and what the incident tried, a
   * CrashLoopBackOff, and an action still being verified: the restarted agent's first verdict is that action's
   * re-check, so a service still unhealthy climbs to the next rung instead of starting over at `restart`.
   */
  persistable(now: number): Record<string, PersistedRecovery> {
    const out: Record<string, PersistedRecovery> = {};
    for (const [name, s] of this.states) {
      this.pruneWindow(s, now);
      if (!s.recent.length && !s.totalRestarts && s.phase !== 'crash-loop') continue;
      out[name] = {
        recentAgesMs: s.recent.map((t) => Math.max(0, Math.round(now - t))),
        totalRestarts: s.totalRestarts,
        level: s.level,
        attempted: [...s.attempted],
        crashLoopForMs:
          s.phase === 'crash-loop' && s.crashLoopUntil !== undefined
            ? Math.max(0, Math.round(s.crashLoopUntil - now))
            : null,
        ...(s.phase === 'verifying' ? { verifying: true } : {}),
        ...(s.phase === 'verifying' && s.lastAction ? { verifyingAction: s.lastAction.action } : {}),
      };
    }
    return out;
  }

  /** Restores `persistable()` output saved `elapsedMs` ago (wall clock, best effort). */
  restorePersisted(saved: Record<string, PersistedRecovery>, now: number, elapsedMs: number): void {
    const gone = Math.max(0, elapsedMs);
    for (const [name, p] of Object.entries(saved)) {
      const s = initialRecoveryState();
      s.recent = p.recentAgesMs
        .map((age) => now - age - gone)
        .filter((t) => t > now - this.config.windowMs)
        .sort((a, b) => a - b);
      s.totalRestarts = p.totalRestarts;
      s.level = Math.min(p.level, ESCALATION_LADDER.length - 1);
      s.attempted = p.attempted.slice(-MAX_ATTEMPTED);
      if (p.crashLoopForMs !== null && p.crashLoopForMs - gone > 0 && s.recent.length >= this.config.maxRestarts) {
        s.phase = 'crash-loop';
        s.crashLoopUntil = now + p.crashLoopForMs - gone;
      } else if (p.verifying) {
        // Whatever the new process learns first (a check after its startup delay, the container's state) is
        // the re-check of the action taken before the restart.
        s.phase = 'verifying';
        s.verifyAfter = now;
        if (p.verifyingAction)
          s.lastAction = { action: p.verifyingAction, at: now, reason: 'before the agent restarted' };
      }
      this.states.set(name, s);
    }
  }

  /** Persistable snapshot (monotonic times are only meaningful within one boot; the caller rebases them). */
  snapshot(): Record<string, ServiceRecoveryState> {
    return Object.fromEntries([...this.states].map(([k, v]) => [k, structuredClone(v)]));
  }

  restore(snapshot: Record<string, ServiceRecoveryState>): void {
    this.states.clear();
    for (const [k, v] of Object.entries(snapshot)) this.states.set(k, structuredClone(v));
  }

  private act(
    s: ServiceRecoveryState,
    obs: ServiceObservation,
    now: number,
    action: RecoveryAction,
    reason: string,
    rateLimited: boolean,
  ): PlannedAction {
    if (rateLimited) s.recent.push(now);
    s.totalRestarts++;
    s.attempted = capAttempted([...s.attempted, action]);
    s.lastAction = { action, at: now, reason };
    s.phase = 'verifying';
    s.verifyAfter = now + obs.startupDelayMs;
    delete s.restartForDependency; // this action restarts it anyway
    return { service: obs.name, action, reason, rung: rateLimited ? s.level + 1 : 1, decidedAt: now, rateLimited };
  }

  private endIncident(s: ServiceRecoveryState): void {
    s.phase = 'idle';
    s.level = 0;
    s.attempted = [];
    delete s.verifyAfter;
    delete s.crashLoopUntil;
    delete s.waitingFor;
  }

  private pruneWindow(s: ServiceRecoveryState, now: number): void {
    while (s.recent.length && s.recent[0]! <= now - this.config.windowMs) s.recent.shift();
  }

  private unhealthyDependency(
    obs: ServiceObservation,
    byName: ReadonlyMap<string, ServiceObservation>,
  ): string | undefined {
    for (const dep of obs.dependsOn) {
      const d = byName.get(dep);
      if (d && d.health !== 'healthy') return dep;
    }
    return undefined;
  }
}

function capAttempted(list: string[]): string[] {
  return list.length > MAX_ATTEMPTED ? list.slice(-MAX_ATTEMPTED) : list;
}
