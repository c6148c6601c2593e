/**
 * Merging device reports (full or delta) into the stored current state, idempotently by sequence number,
 * and deciding what, if anything, must be written to the device's state. Heartbeats are most of the traffic: an
 * unchanged one writes no state at all (its sign of life goes to the small liveness item, docs/architecture.md).
 */
import { createHash } from 'node:crypto';
import type { AgentRecoveries, DeviceReport, ServiceReport } from '../contract/report.js';

export type StoredHealth = 'healthy' | 'degraded' | 'offline' | 'unknown';

export interface StoredDeviceState {
  lastSeq: number;
  lastReportAt: string;
  /** Epoch ms of the last stored state change (liveness itself is in the LIVE item: adapters/liveness-repo.ts). */
  lastSeenEpoch: number;
  health: StoredHealth;
  agentVersion: string;
  uptimeSeconds: number;
  clockOffsetMs?: number;
  targetVersion?: string;
  rolledBackFrom?: string;
  services: Record<string, ServiceReport>;
  /** The agent's cumulative recovery counters as last reported (their growth is what recovery statistics add). */
  recoveries?: AgentRecoveries;
  /** Hash of what matters for change detection (volatile fields left out). */
  stateHash: string;
}

export type ReportDecision =
  /** This exact sequence is the stored one: nothing to do, say so. */
  | { kind: 'duplicate'; lastSeq: number }
  /** Older than what is stored: nothing to do, refuse (409 stale_sequence). */
  | { kind: 'stale'; lastSeq: number }
  /** Nothing changed: write no state. */
  | { kind: 'unchanged'; lastSeq: number }
  /** The state changed: store the merged state. */
  | { kind: 'changed'; next: StoredDeviceState; previous: StoredDeviceState | undefined };

export function decideReport(
  current: StoredDeviceState | undefined,
  report: DeviceReport,
  now: number,
): ReportDecision {
  if (current) {
    if (report.seq === current.lastSeq) return { kind: 'duplicate', lastSeq: current.lastSeq };
    if (report.seq < current.lastSeq) return { kind: 'stale', lastSeq: current.lastSeq };
  }
  const services = mergeServices(current?.services, report);
  const health = healthOf(services);
  // Absent (an agent that does not count, or a delta): what was stored stands.
  const recoveries = report.recoveries ?? current?.recoveries;
  const stateHash = hashState({
    services,
    health,
    recoveries,
    agentVersion: report.agentVersion,
    targetVersion: report.targetVersion,
    rolledBackFrom: report.rolledBackFrom,
  });
  const next: StoredDeviceState = {
    lastSeq: report.seq,
    lastReportAt: new Date(now).toISOString(),
    lastSeenEpoch: now,
    health,
    agentVersion: report.agentVersion,
    uptimeSeconds: report.uptimeSeconds,
    services,
    stateHash,
  };
  if (report.clockOffsetMs !== undefined) next.clockOffsetMs = report.clockOffsetMs;
  if (report.targetVersion !== undefined) next.targetVersion = report.targetVersion;
  if (report.rolledBackFrom !== undefined) next.rolledBackFrom = report.rolledBackFrom;
  if (recoveries !== undefined) next.recoveries = recoveries;

  // A device the evaluator marked offline (or one never seen) always gets written: it is back.
  if (!current || current.stateHash !== stateHash || current.health !== health)
    return { kind: 'changed', next, previous: current };
  return { kind: 'unchanged', lastSeq: current.lastSeq };
}

/** Full reports replace the service map; deltas upsert the services they carry and drop `removedServices`. */
export function mergeServices(
  current: Record<string, ServiceReport> | undefined,
  report: DeviceReport,
): Record<string, ServiceReport> {
  const merged: Record<string, ServiceReport> = report.kind === 'full' ? {} : { ...(current ?? {}) };
  for (const name of report.removedServices) delete merged[name];
  for (const s of report.services) merged[s.name] = s;
  return merged;
}

const DEGRADED_STATUSES = new Set(['error', 'quarantined', 'exited', 'restarting']);

/** A device is degraded while any service has an error, is down against its will, or fails its check. */
export function healthOf(services: Record<string, ServiceReport>): 'healthy' | 'degraded' {
  for (const s of Object.values(services)) {
    if (s.error) return 'degraded';
    if (DEGRADED_STATUSES.has(s.status)) return 'degraded';
    if (s.lastHealthCheck && !s.lastHealthCheck.healthy) return 'degraded';
  }
  return 'healthy';
}

/** Errors as operator badges: service, error type, next retry, retry count. */
export function errorBadges(services: Record<string, ServiceReport> | undefined) {
  return Object.values(services ?? {})
    .filter((s) => s.error)
    .map((s) => ({
      service: s.name,
      type: s.error!.type,
      nextRetry: s.error!.nextRetry,
      retryCount: s.error!.retryCount,
    }))
    .sort((a, b) => a.service.localeCompare(b.service));
}

/** Volatile fields (check timestamps and durations, uptime) would make every heartbeat look like a change. */
function hashState(state: {
  services: Record<string, ServiceReport>;
  health: string;
  recoveries?: AgentRecoveries;
  agentVersion: string;
  targetVersion?: string;
  rolledBackFrom?: string;
}): string {
  const services = Object.keys(state.services)
    .sort()
    .map((name) => {
      const s = state.services[name]!;
      const check = s.lastHealthCheck
        ? {
            healthy: s.lastHealthCheck.healthy,
            kind: s.lastHealthCheck.kind,
            message: s.lastHealthCheck.message,
            consecutiveFailures: s.lastHealthCheck.consecutiveFailures,
          }
        : null;
      return { ...s, lastHealthCheck: check };
    });
  return createHash('sha256')
    .update(canonicalJson({ ...state, services }))
    .digest('hex')
    .slice(0, 32);
}

/**
 * The agent's own (level-1) recoveries since the previous stored state: services whose restart count went up
 * and that run again. A kill the agent healed between two reports leaves no error state behind, only this;
 * it is what recovery statistics count (a `service.recovered` event). Compared on a state change only (a
 * restart changes the stored state), so it costs nothing per heartbeat.
 */
export function agentRecoveries(
  previous: Record<string, ServiceReport> | undefined,
  next: Record<string, ServiceReport>,
): { service: string; restarts: number }[] {
  const out: { service: string; restarts: number }[] = [];
  for (const [name, s] of Object.entries(next)) {
    const before = previous?.[name];
    if (before && s.restartCount > before.restartCount && s.status === 'running')
      out.push({ service: name, restarts: s.restartCount - before.restartCount });
  }
  return out;
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
