/**
 * StatusBook: the per-service status model, in the contract's ServiceReport shape.
 *
 * Three writers, one reader side:
 * - the reconcile loop (agent.ts) sets each service's `reconcile` view after every cycle: image, container,
 *   engine state, the reconcile error (from backoff), whether it waits for a dependency / is manually stopped;
 * - the health module sets `lastHealthCheck` and a 'health' issue (HealthCheckFailed);
 * - the recovery module sets a 'recovery' issue (CrashLoopBackOff, RecoveryFailed) and records restarts.
 * `reports()` builds ServiceReport[] on demand from all of it, so a health result is visible at once, not only
 * after the next 30 s cycle. Error precedence: reconcile (the target is not even applied) > recovery > health.
 */
import type { HealthCheckResult, ServiceError, ServiceReport, ServiceStatus } from '#contract/report.js';
import type { Clock } from '../clock.js';
import type { ContainerState } from '../planner/types.js';

export type IssueSource = 'health' | 'recovery';

/** What the reconcile loop knows about a service after a cycle. */
export interface ReconcileView {
  image: string;
  containerId?: string;
  containerState?: ContainerState;
  /** ISO start time of the container, when known. */
  startedAt?: string;
  manuallyStopped: boolean;
  waitingFor?: string;
  error: ServiceError | null;
}

interface ServiceRuntime {
  view?: ReconcileView;
  lastHealthCheck: HealthCheckResult | null;
  issues: Partial<Record<IssueSource, ServiceError>>;
  restartCount: number;
  /** Monotonic times of restarts inside the rate-limit window. */
  recent: number[];
}

export type StatusListener = (service: string) => void;

export class StatusBook {
  private readonly services = new Map<string, ServiceRuntime>();
  private readonly listeners = new Set<StatusListener>();
  /** Bumped when restart counts change (persisted by the agent). */
  countsVersion = 0;

  constructor(
    private readonly clock: Clock,
    /** Window of `recentRestarts`. */
    readonly restartWindowMs = 300_000,
  ) {}

  private rt(service: string): ServiceRuntime {
    let r = this.services.get(service);
    if (!r) {
      r = { lastHealthCheck: null, issues: {}, restartCount: 0, recent: [] };
      this.services.set(service, r);
    }
    return r;
  }

  private changed(service: string): void {
    for (const l of this.listeners) l(service);
  }

  /** Called on every change of a service's status inputs (e.g. the cloud link's delta reports). */
  subscribe(listener: StatusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- reconcile loop ----
  setView(service: string, view: ReconcileView): void {
    this.rt(service).view = view;
    this.changed(service);
  }

  /** Forget services that left the target. */
  retain(names: ReadonlySet<string>): void {
    for (const name of [...this.services.keys()]) if (!names.has(name)) this.services.delete(name);
  }

  // ---- health / recovery ----
  setHealth(service: string, result: HealthCheckResult | null): void {
    this.rt(service).lastHealthCheck = result;
    this.changed(service);
  }

  setIssue(service: string, source: IssueSource, error: ServiceError | null): void {
    const r = this.rt(service);
    if (error) r.issues[source] = error;
    else delete r.issues[source];
    this.changed(service);
  }

  issue(service: string, source: IssueSource): ServiceError | undefined {
    return this.services.get(service)?.issues[source];
  }

  /** A restart of the service's container by anyone (reconcile found it exited, recovery, a job). */
  recordRestart(service: string, at = this.clock.monoNow()): void {
    const r = this.rt(service);
    r.restartCount++;
    r.recent.push(at);
    this.prune(r, at);
    this.countsVersion++;
    this.changed(service);
  }

  recentRestarts(service: string, now = this.clock.monoNow()): number {
    const r = this.services.get(service);
    if (!r) return 0;
    this.prune(r, now);
    return r.recent.length;
  }

  restartCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, r] of this.services) if (r.restartCount) out[name] = r.restartCount;
    return out;
  }

  loadRestartCounts(counts: Record<string, number>): void {
    for (const [name, n] of Object.entries(counts)) this.rt(name).restartCount = n;
  }

  private prune(r: ServiceRuntime, now: number): void {
    while (r.recent.length && now - r.recent[0]! >= this.restartWindowMs) r.recent.shift();
  }

  // ---- read side ----
  names(): string[] {
    return [...this.services.keys()].filter((n) => this.services.get(n)!.view).sort();
  }

  report(service: string): ServiceReport | undefined {
    const r = this.services.get(service);
    if (!r?.view) return undefined;
    const v = r.view;
    const error = v.manuallyStopped ? null : (v.error ?? r.issues.recovery ?? r.issues.health ?? null);
    return {
      name: service,
      image: v.image,
      status: deriveStatus(v, error),
      ...(v.containerId ? { containerId: v.containerId } : {}),
      restartCount: r.restartCount,
      recentRestarts: this.recentRestarts(service),
      error,
      lastHealthCheck: r.lastHealthCheck,
      ...(v.startedAt ? { startedAt: v.startedAt } : {}),
    };
  }

  /** Every service of the current target, in name order. */
  reports(): ServiceReport[] {
    return this.names().map((n) => this.report(n)!);
  }
}

function deriveStatus(v: ReconcileView, error: ServiceError | null): ServiceStatus {
  if (v.manuallyStopped) return 'manually-stopped';
  if (error?.quarantined) return 'quarantined';
  if (error) return 'error';
  switch (v.containerState) {
    case 'running':
      return 'running';
    case 'created':
      return 'starting';
    case 'restarting':
      return 'restarting';
    case 'exited':
    case 'dead':
      return 'exited';
    case 'paused':
    case 'stopped':
    case 'removing':
      return 'stopped';
    default:
      return v.waitingFor ? 'starting' : 'unknown';
  }
}
