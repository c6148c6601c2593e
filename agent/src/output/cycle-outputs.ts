/**
 * What each cycle leaves for the outside to read: health.json (health-file.ts) and the Prometheus textfile
 * (metrics.ts), both written atomically from the cycle's result.
 */
import type { CycleResult } from '../agent-module.js';
import type { Clock } from '../clock.js';
import { AGENT_VERSION, type AgentConfig } from '../config.js';
import type { StateDir } from '../state/state-dir.js';
import type { TargetSnapshot } from '../target/provider.js';
import { HEALTH_FORMAT, type HealthFile, writeHealthFile } from './health-file.js';
import { buildMetrics, writeMetricsFile } from './metrics.js';

export interface CycleOutputInput {
  config: AgentConfig;
  clock: Clock;
  state: StateDir;
  startedAt: Date;
  target: TargetSnapshot | null;
}

export async function writeCycleOutputs(r: CycleResult, o: CycleOutputInput): Promise<void> {
  const saveFailures = o.state.saveFailures();
  const health: HealthFile = {
    format: HEALTH_FORMAT,
    agent: {
      version: AGENT_VERSION,
      pid: process.pid,
      agentId: o.config.agentId,
      startedAt: o.startedAt.toISOString(),
      ...(o.config.cloud ? { deviceId: o.config.cloud.deviceId } : {}),
    },
    lastRun: r.finishedAt,
    success: r.success,
    cycle: r.n,
    durationMs: Math.round(r.durationMs),
    engine: { reachable: !r.engineError, ...(r.engineError ? { error: r.engineError } : {}) },
    state: { saving: saveFailures.length ? 'failing' : 'ok', failures: saveFailures },
    target: {
      ...(o.target ? { version: o.target.version, source: o.target.source } : {}),
      ...(r.targetError ? { error: r.targetError } : {}),
    },
    services: r.services,
    errors: r.errors,
  };
  await Promise.all([
    writeHealthFile(o.config.healthFile, health),
    writeMetricsFile(
      o.config.metricsFile,
      buildMetrics({
        success: r.success,
        lastRunEpochSeconds: Math.floor(o.clock.wallNow() / 1000),
        durationSeconds: r.durationMs / 1000,
        services: r.services,
        agentId: o.config.agentId,
        stateSaveFailing: saveFailures.map((f) => f.store),
        stateSaveFailuresTotal: o.state.saveFailuresTotal,
      }),
    ),
  ]);
}
