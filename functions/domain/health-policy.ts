/**
 * Health policy: from a device's merged state to findings, and from findings to recovery decisions.
 * Pure: no AWS, `now` (epoch ms) is an argument.
 *
 * Behaviour (auto-recovery flow, docs/architecture.md):
 *   - a failing service is restarted automatically (level 1: nobody is paged);
 *   - rate limit: at most MAX_FAILURES = 3 recovery attempts per FAILURE_WINDOW = 300 s per service; past the
 *     limit we stop restarting and escalate to a person (the ServiceCrashLoop alert, docs/runbook.md);
 *   - manual-stop / maintenance markers: a marked device or service is neither recovered nor alerted on;
 *   - dependencies are recovered before their dependents (a dependent waits while its dependency is failing).
 * The device's circuit breaker is honoured: while it is not closed, no recovery job is enqueued.
 *
 * A little over the ~400 lines a file keeps to: findings, the rate limit, the recovery plan and its escalation
 * alerts are one policy, read top to bottom; each part feeds the next.
 */
import type { JobCommand, Marker, ServiceReport } from '../contract/index.js';
import type { AlertName } from './alerting/catalogue.js';
import type { AlertInput } from './alerting/event.js';
import { formatDuration } from './alerting/format.js';

export interface HealthPolicyConfig {
  /** Device offline when its last report is older than this (default 3 heartbeat intervals). */
  offlineAfterMs: number;
  /** Restarts within the agent's window (`recentRestarts`) that make a crash loop. */
  crashLoopRestarts: number;
  /** A service in ImagePullBackOff/CrashLoopBackOff/StartFailure longer than this is stuck. */
  stuckAfterMs: number;
  /** ...or after this many agent retries, whichever comes first. */
  stuckRetryCount: number;
  /** Consecutive failed health checks of a running service before it counts as unhealthy (kubelet default 3). */
  unhealthyAfterFailures: number;
  /** MAX_FAILURES: cloud recovery attempts per service per window. */
  maxRecoveryAttempts: number;
  /** FAILURE_WINDOW. */
  recoveryWindowMs: number;
  /** A manual-intervention alert whose condition outlives this becomes an engineering escalation (level 3). */
  engineeringAfterMs: number;
}

export const DEFAULT_HEALTH_POLICY: HealthPolicyConfig = {
  offlineAfterMs: 90_000,
  crashLoopRestarts: 3,
  stuckAfterMs: 10 * 60_000,
  stuckRetryCount: 5,
  unhealthyAfterFailures: 3,
  maxRecoveryAttempts: 3,
  recoveryWindowMs: 300_000,
  engineeringAfterMs: 60 * 60_000,
};

// ---------------------------------------------------------------- liveness

export function offlineCutoff(now: number, policy: Pick<HealthPolicyConfig, 'offlineAfterMs'>): number {
  return now - policy.offlineAfterMs;
}

export function isOffline(
  lastSeenEpochMs: number | undefined,
  now: number,
  policy: Pick<HealthPolicyConfig, 'offlineAfterMs'>,
): boolean {
  return lastSeenEpochMs === undefined || lastSeenEpochMs < offlineCutoff(now, policy);
}

// ---------------------------------------------------------------- findings

export type FindingKind =
  /** The error will not fix itself (missing image, invalid spec, disk full): a person must act. */
  | 'permanent-error'
  /** The agent spent its fast retries (quarantined / RecoveryFailed / no next retry). */
  | 'gave-up'
  /** Restarting over and over. */
  | 'crash-loop'
  /** In a back-off state for too long. */
  | 'stuck-backoff'
  /** Running, but failing its health check. */
  | 'unhealthy';

export interface Finding {
  kind: FindingKind;
  service: string;
  alertName: AlertName;
  /** epoch ms: since when the condition holds (best knowledge). */
  since: number;
  summary: string;
  /** What the agent already tried, from its report. */
  agentTried: string[];
  /** The cloud-side job that may fix it; undefined when a restart cannot help. */
  recovery?: JobCommand;
  errorType?: string;
  /** The failure without the device (`ImagePullBackOff lab/web:9`): the same on every device with this problem. */
  cause?: string;
}

const IMAGE_ERRORS = new Set(['ImagePullBackOff', 'ErrImagePull']);
const BACKOFF_ERRORS = new Set(['ImagePullBackOff', 'ErrImagePull', 'CrashLoopBackOff', 'StartFailure']);
const ALWAYS_MANUAL = new Set(['DiskFull', 'InvalidSpec']);

/** At most one finding per service: the most specific one. Healthy services and manual stops give none. */
export function serviceFinding(
  s: ServiceReport,
  now: number,
  policy: HealthPolicyConfig = DEFAULT_HEALTH_POLICY,
): Finding | undefined {
  const f = findingOf(s, now, policy);
  return f && { ...f, cause: `${f.errorType ?? f.kind} ${s.image}` };
}

function findingOf(s: ServiceReport, now: number, policy: HealthPolicyConfig): Finding | undefined {
  if (s.status === 'manually-stopped') return undefined;
  const err = s.error ?? undefined;
  const errSince = err ? Date.parse(err.timestamp) : Number.NaN;
  const since = Number.isFinite(errSince) ? errSince : now;
  const agentTried = describeAgentAttempts(s);
  const restart: JobCommand = {
    type: 'restart-service',
    params: { service: s.name, reason: 'fleetmedic auto-recovery' },
  };

  if (err && (err.permanent || ALWAYS_MANUAL.has(err.type))) {
    return {
      kind: 'permanent-error',
      service: s.name,
      alertName: IMAGE_ERRORS.has(err.type) ? 'ServiceImagePullBackOff' : 'RecoveryFailed',
      since,
      summary: `${s.name} (${s.image}): ${err.type} – ${err.message} (will not fix itself)`,
      agentTried,
      errorType: err.type,
    };
  }
  if (
    err &&
    (err.quarantined || err.type === 'RecoveryFailed' || err.nextRetry === null || s.status === 'quarantined')
  ) {
    return {
      kind: 'gave-up',
      service: s.name,
      alertName: IMAGE_ERRORS.has(err.type) ? 'ServiceImagePullBackOff' : 'RecoveryFailed',
      since,
      summary: `${s.name} (${s.image}): agent gave up after ${retries(err.retryCount)} – ${err.type}: ${err.message}`,
      agentTried,
      // A pull that the agent gave up on is retried at once; anything else is restarted from scratch.
      recovery: IMAGE_ERRORS.has(err.type) ? { type: 'retry-now', params: { service: s.name } } : restart,
      errorType: err.type,
    };
  }
  const crashing = s.recentRestarts >= policy.crashLoopRestarts || err?.type === 'CrashLoopBackOff';
  if (crashing && s.status !== 'running') {
    return {
      kind: 'crash-loop',
      service: s.name,
      alertName: 'ServiceCrashLoop',
      since,
      summary: `${s.name} (${s.image}) is crash-looping: ${s.recentRestarts} restarts in the agent's window${err ? ` – ${err.message}` : ''}`,
      agentTried,
      recovery: restart,
      errorType: err?.type ?? 'CrashLoopBackOff',
    };
  }
  if (
    err &&
    BACKOFF_ERRORS.has(err.type) &&
    (now - since >= policy.stuckAfterMs || err.retryCount >= policy.stuckRetryCount)
  ) {
    return {
      kind: 'stuck-backoff',
      service: s.name,
      alertName: IMAGE_ERRORS.has(err.type) ? 'ServiceImagePullBackOff' : 'ServiceCrashLoop',
      since,
      summary: `${s.name} (${s.image}) stuck in ${err.type} for ${formatDuration(now - since)} (${retries(err.retryCount)}): ${err.message}`,
      agentTried,
      recovery: IMAGE_ERRORS.has(err.type) ? { type: 'retry-now', params: { service: s.name } } : restart,
      errorType: err.type,
    };
  }
  const hc = s.lastHealthCheck;
  if (s.status === 'running' && hc && !hc.healthy && hc.consecutiveFailures >= policy.unhealthyAfterFailures) {
    const hcSince = Date.parse(hc.checkedAt);
    return {
      kind: 'unhealthy',
      service: s.name,
      alertName: 'ServiceUnhealthy',
      since: Number.isFinite(hcSince) ? hcSince : now,
      summary: `${s.name} (${s.image}) failed ${hc.consecutiveFailures} ${hc.kind} health checks${hc.message ? `: ${hc.message}` : ''}`,
      agentTried,
      recovery: restart,
      errorType: 'HealthCheckFailed',
    };
  }
  return undefined;
}

export function deviceFindings(
  services: Iterable<ServiceReport>,
  now: number,
  policy: HealthPolicyConfig = DEFAULT_HEALTH_POLICY,
): Finding[] {
  const out: Finding[] = [];
  for (const s of services) {
    const f = serviceFinding(s, now, policy);
    if (f) out.push(f);
  }
  return out.sort((a, b) => a.service.localeCompare(b.service));
}

function describeAgentAttempts(s: ServiceReport): string[] {
  const out: string[] = [];
  if (s.error?.attempted?.length) out.push(...s.error.attempted.map((a) => `agent: ${a}`));
  if (s.error && s.error.retryCount > 0) out.push(`agent: ${retries(s.error.retryCount)} with back-off`);
  if (s.restartCount > 0) out.push(`agent: ${s.restartCount} restarts in total`);
  return out.slice(0, 10);
}

// ---------------------------------------------------------------- markers

export function isMarkerActive(m: Pick<Marker, 'expiresAt'>, now: number): boolean {
  return Date.parse(m.expiresAt) > now;
}

/** The marker that silences this service (a device-wide marker silences every service), if any. */
export function silencingMarker<M extends Pick<Marker, 'expiresAt' | 'service'>>(
  markers: readonly M[],
  service: string | undefined,
  now: number,
): M | undefined {
  return markers.find((m) => isMarkerActive(m, now) && (m.service === undefined || m.service === service));
}

// ---------------------------------------------------------------- recovery rate limit

export interface RecoveryWindow {
  /** epoch ms of recent cloud recovery attempts for one service */
  attempts: number[];
  /** The last recovery job, while it has not finished: one restart at a time, never a pile of them. */
  inFlightJobId?: string;
}

export type RecoveryAttemptDecision =
  | { allowed: true; attempts: number[]; attemptNumber: number }
  | { allowed: false; reason: 'rate-limited'; attempts: number[]; retryAfterMs: number }
  | { allowed: false; reason: 'in-flight'; attempts: number[]; jobId: string };

/** Sliding window: attempts older than the window no longer count. */
export function decideRecoveryAttempt(
  window: RecoveryWindow | undefined,
  now: number,
  policy: Pick<HealthPolicyConfig, 'maxRecoveryAttempts' | 'recoveryWindowMs'> = DEFAULT_HEALTH_POLICY,
): RecoveryAttemptDecision {
  const recent = (window?.attempts ?? []).filter((t) => now - t < policy.recoveryWindowMs).sort((a, b) => a - b);
  // The running attempt decides first: escalating before the last allowed restart has even finished would be early.
  if (window?.inFlightJobId)
    return { allowed: false, reason: 'in-flight', attempts: recent, jobId: window.inFlightJobId };
  if (recent.length >= policy.maxRecoveryAttempts) {
    return {
      allowed: false,
      reason: 'rate-limited',
      attempts: recent,
      retryAfterMs: recent[0]! + policy.recoveryWindowMs - now,
    };
  }
  const attempts = [...recent, now];
  return { allowed: true, attempts, attemptNumber: attempts.length };
}

// ---------------------------------------------------------------- recovery plan for one device

export interface CircuitLike {
  state: 'closed' | 'open' | 'half-open';
}

export type PlanStep =
  /** A marker silences the service: no recovery, no alert. */
  | { kind: 'silenced'; finding: Finding; marker: Pick<Marker, 'kind' | 'expiresAt' | 'service' | 'reason'> }
  /** Enqueue the recovery job if the rate limit admits it; otherwise escalate with `escalation`. */
  | { kind: 'recover'; finding: Finding; command: JobCommand; escalation: (attemptsInWindow: number[]) => AlertInput }
  /** A dependency of this service is failing too: recover that first, retry this one afterwards. */
  | { kind: 'wait-for-dependency'; finding: Finding; dependency: string }
  /** The circuit breaker is not closed: commands to the device are held, so no recovery job now. */
  | { kind: 'held-by-circuit'; finding: Finding }
  /** A restart cannot help: tell a person now. */
  | { kind: 'alert'; finding: Finding; alert: AlertInput };

export interface PlanInput {
  deviceId: string;
  findings: Finding[];
  markers: ReadonlyArray<Pick<Marker, 'kind' | 'expiresAt' | 'service' | 'reason'>>;
  circuit: CircuitLike;
  /** service → services it depends on (from the device's target state). */
  dependsOn: Record<string, readonly string[]>;
  now: number;
  correlationId?: string;
  policy?: HealthPolicyConfig;
}

/** Steps in dependency order: dependencies first, then dependents, ties by name. */
export function planRecovery(input: PlanInput): PlanStep[] {
  const policy = input.policy ?? DEFAULT_HEALTH_POLICY;
  const { deviceId, now } = input;
  const failing = new Map(input.findings.map((f) => [f.service, f]));
  const steps: PlanStep[] = [];
  for (const service of dependencyOrder([...failing.keys()], input.dependsOn)) {
    const finding = failing.get(service)!;
    const marker = silencingMarker(input.markers, service, now);
    if (marker) {
      steps.push({ kind: 'silenced', finding, marker });
      continue;
    }
    const failingDep = transitiveDependencies(service, input.dependsOn).find((d) => failing.has(d));
    if (failingDep) {
      steps.push({ kind: 'wait-for-dependency', finding, dependency: failingDep });
      continue;
    }
    if (!finding.recovery) {
      steps.push({ kind: 'alert', finding, alert: manualAlert(deviceId, finding, now, policy, input.correlationId) });
      continue;
    }
    if (input.circuit.state !== 'closed') {
      steps.push({ kind: 'held-by-circuit', finding });
      continue;
    }
    steps.push({
      kind: 'recover',
      finding,
      command: finding.recovery,
      escalation: (attempts) => exhaustedAlert(deviceId, finding, attempts, now, policy, input.correlationId),
    });
  }
  return steps;
}

/** Alert for a failure a restart cannot fix. */
export function manualAlert(
  deviceId: string,
  f: Finding,
  now: number,
  policy: HealthPolicyConfig,
  correlationId?: string,
): AlertInput {
  return {
    alertName: f.alertName,
    level: now - f.since >= policy.engineeringAfterMs ? 3 : 2,
    deviceId,
    service: f.service,
    summary: f.summary,
    since: f.since,
    tried: [...f.agentTried, 'cloud: no automatic recovery (a restart cannot fix this)'],
    correlationId,
    ...(f.cause ? { cause: f.cause } : {}),
    details: { finding: f.kind, errorType: f.errorType ?? null },
  };
}

/** Alert once the recovery budget is spent: stop restarting, tell a person. */
export function exhaustedAlert(
  deviceId: string,
  f: Finding,
  attemptsInWindow: number[],
  now: number,
  policy: HealthPolicyConfig,
  correlationId?: string,
): AlertInput {
  const windowText = formatDuration(policy.recoveryWindowMs);
  return {
    alertName: f.alertName,
    level: now - f.since >= policy.engineeringAfterMs ? 3 : 2,
    deviceId,
    service: f.service,
    summary: `${f.summary}; ${attemptsInWindow.length} cloud recovery attempts in ${windowText} did not help – automatic recovery paused`,
    since: Math.min(f.since, ...attemptsInWindow),
    tried: [
      ...f.agentTried,
      ...attemptsInWindow.map(
        (t, i) => `cloud: ${f.recovery?.type ?? 'recovery'} #${i + 1} at ${new Date(t).toISOString()}`,
      ),
    ],
    correlationId,
    ...(f.cause ? { cause: f.cause } : {}),
    details: { finding: f.kind, attempts: attemptsInWindow.length, windowSeconds: policy.recoveryWindowMs / 1000 },
  };
}

// ---------------------------------------------------------------- dependency graph helpers

export function transitiveDependencies(service: string, dependsOn: Record<string, readonly string[]>): string[] {
  const seen = new Set<string>();
  const stack = [...(dependsOn[service] ?? [])];
  while (stack.length) {
    const d = stack.pop()!;
    if (seen.has(d) || d === service) continue;
    seen.add(d);
    stack.push(...(dependsOn[d] ?? []));
  }
  return [...seen].sort();
}

/** Topological order of `services` (dependencies first); cycles (rejected by the contract anyway) fall back to name order. */
export function dependencyOrder(services: string[], dependsOn: Record<string, readonly string[]>): string[] {
  const wanted = new Set(services);
  const out: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (s: string) => {
    if (state.get(s)) return;
    state.set(s, 'visiting');
    for (const d of [...(dependsOn[s] ?? [])].sort()) visit(d);
    state.set(s, 'done');
    if (wanted.has(s)) out.push(s);
  };
  for (const s of [...services].sort()) visit(s);
  return out;
}

/** Services whose findings cleared between two states: their alerts can be resolved. */
export function recoveredServices(
  previous: Iterable<ServiceReport>,
  current: Iterable<ServiceReport>,
  now: number,
  policy: HealthPolicyConfig = DEFAULT_HEALTH_POLICY,
): { service: string; alertName: AlertName }[] {
  const cur = new Map<string, ServiceReport>();
  for (const s of current) cur.set(s.name, s);
  const out: { service: string; alertName: AlertName }[] = [];
  for (const p of previous) {
    const before = serviceFinding(p, now, policy);
    if (!before) continue;
    const c = cur.get(p.name);
    const after = c ? serviceFinding(c, now, policy) : undefined;
    // Gone from the device or healthy now (a different finding keeps its own alert going).
    if (!after || after.alertName !== before.alertName) out.push({ service: p.name, alertName: before.alertName });
  }
  return out;
}

/** `1 retry`, `3 retries`: alerts are read by people. */
const retries = (n: number) => `${n} ${n === 1 ? 'retry' : 'retries'}`;
