/**
 * Builds contract reports from the agent's per-service view (pure).
 *
 * Change detection compares a projection that leaves out what moves on every health check (check time,
 * duration, the wording of a passing check): otherwise a 2 s health check would make every 10 s window a
 * delta. A delta carries the complete current report of each changed service plus the removed names.
 */
import type { AgentRecoveries, DeviceReport, ServiceReport } from '#contract/report.js';

export function significant(s: ServiceReport): string {
  const h = s.lastHealthCheck;
  return JSON.stringify([
    s.image,
    s.status,
    s.containerId ?? null,
    s.restartCount,
    s.recentRestarts,
    s.startedAt ?? null,
    s.error
      ? [
          s.error.type,
          s.error.message,
          s.error.retryCount,
          s.error.nextRetry,
          s.error.permanent,
          s.error.quarantined,
          s.error.attempted,
        ]
      : null,
    h ? [h.healthy, h.kind, h.consecutiveFailures, h.healthy ? null : (h.message ?? null)] : null,
  ]);
}

export interface DeviceMeta {
  deviceId: string;
  agentVersion: string;
  uptimeSeconds: number;
  sentAt: string;
  clockOffsetMs?: number;
  targetVersion?: string;
  rolledBackFrom?: string;
  recoveries?: AgentRecoveries;
}

/** Remembers what the cloud was last told (per service projection) and derives deltas from it. */
export class ReportBuilder {
  private told = new Map<string, string>();
  private toldRecoveries = '';

  /** Services whose significant fields differ from what was last reported, and names no longer present. */
  diff(services: readonly ServiceReport[]): { changed: ServiceReport[]; removed: string[] } {
    const changed = services.filter((s) => this.told.get(s.name) !== significant(s));
    const present = new Set(services.map((s) => s.name));
    const removed = [...this.told.keys()].filter((n) => !present.has(n)).sort();
    return { changed, removed };
  }

  /** A service changed, or the recovery counters grew (an attempt's outcome is news even if no service moved). */
  hasChanges(services: readonly ServiceReport[], recoveries?: AgentRecoveries): boolean {
    const d = this.diff(services);
    return d.changed.length > 0 || d.removed.length > 0 || this.recoveriesChanged(recoveries);
  }

  private recoveriesChanged(recoveries: AgentRecoveries | undefined): boolean {
    return recoveries !== undefined && JSON.stringify(recoveries) !== this.toldRecoveries;
  }

  /** Produces a report without a sequence number (the buffer assigns it) and records it as told. */
  build(kind: 'full' | 'delta', services: readonly ServiceReport[], meta: DeviceMeta): Omit<DeviceReport, 'seq'> {
    const { changed, removed } = this.diff(services);
    const body: Omit<DeviceReport, 'seq'> = {
      deviceId: meta.deviceId,
      kind,
      agentVersion: meta.agentVersion,
      uptimeSeconds: Math.max(0, Math.round(meta.uptimeSeconds)),
      sentAt: meta.sentAt,
      services: kind === 'full' ? [...services] : changed,
      removedServices: kind === 'full' ? [] : removed,
      droppedReports: 0,
    };
    if (meta.clockOffsetMs !== undefined) body.clockOffsetMs = Math.round(meta.clockOffsetMs);
    if (meta.targetVersion !== undefined) body.targetVersion = meta.targetVersion;
    if (meta.rolledBackFrom !== undefined) body.rolledBackFrom = meta.rolledBackFrom;
    // Cumulative counters, in every report: tiny, and the cloud stores nothing when they did not grow.
    if (meta.recoveries !== undefined) {
      body.recoveries = meta.recoveries;
      this.toldRecoveries = JSON.stringify(meta.recoveries);
    }
    this.told = new Map(services.map((s) => [s.name, significant(s)]));
    return body;
  }
}
