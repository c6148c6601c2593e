/**
 * Agent configuration: defaults, then environment, then CLI flags (cli.ts). Everything timing-related is
 * configurable so that tests run the real loop in seconds.
 */
import { join } from 'node:path';
import { DEFAULT_BACKOFF_POLICY, type BackoffPolicy } from './backoff/policy.js';
import { DEFAULT_DISK_CHECK, type DiskCheckConfig } from './engine/disk.js';
import { defaultNamePrefix } from './engine/names.js';
import { DEFAULT_STATE_DIR } from './state/state-dir.js';

export const AGENT_VERSION = '0.1.0';

export interface CloudConfig {
  apiUrl: string;
  deviceId: string;
  tokenFile: string;
  /** The push channel's WebSocket URL (ws:// or wss://); without it the agent only polls. */
  pushUrl?: string;
}

export interface AgentConfig {
  stateDir: string;
  /** Offline/local target (TargetState or TargetStateDocument JSON). */
  targetFile?: string;
  cloud?: CloudConfig;
  dryRun: boolean;
  once: boolean;
  /** Reconcile cycle (default 30 s). */
  intervalMs: number;
  /** Follow-up cycle after a dependency came up, so its dependents start without waiting a full interval. */
  dependencyRecheckMs: number;
  /** Floor between two cycles (a storm guard for triggers and due retries). */
  minCycleGapMs: number;
  /** Ownership label value `io.fleetmedic.agent` (several agents, or test runs, on one engine). */
  agentId: string;
  /** Container name prefix (default `fleetmedic_<agentId>_`: agents sharing an engine never collide on names). */
  namePrefix: string;
  dockerHost?: string;
  backoff: BackoffPolicy;
  /** Window of `recentRestarts`. */
  restartWindowMs: number;
  stopTimeoutSeconds: number;
  pullTimeoutMs: number;
  disk: DiskCheckConfig;
  healthFile: string;
  metricsFile: string;
  /** Longest wait for the current cycle on SIGTERM. */
  shutdownTimeoutMs: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function defaultConfig(overrides: Partial<AgentConfig> = {}): AgentConfig {
  const stateDir = overrides.stateDir ?? DEFAULT_STATE_DIR;
  const agentId = overrides.agentId ?? 'default';
  return {
    stateDir,
    dryRun: false,
    once: false,
    intervalMs: 30_000,
    dependencyRecheckMs: 1_000,
    minCycleGapMs: 250,
    agentId,
    namePrefix: defaultNamePrefix(agentId),
    backoff: DEFAULT_BACKOFF_POLICY,
    restartWindowMs: 300_000,
    stopTimeoutSeconds: 10,
    pullTimeoutMs: 10 * 60_000,
    disk: DEFAULT_DISK_CHECK,
    healthFile: join(stateDir, 'health.json'),
    metricsFile: join(stateDir, 'metrics', 'fleetmedic_agent.prom'),
    shutdownTimeoutMs: 20_000,
    ...overrides,
  };
}

const ID = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export function validateConfig(c: AgentConfig): AgentConfig {
  if (!ID.test(c.agentId)) throw new ConfigError(`invalid agent id '${c.agentId}' (lowercase letters, digits, . _ -)`);
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(c.namePrefix))
    throw new ConfigError(`invalid container name prefix '${c.namePrefix}'`);
  if (!(c.intervalMs >= 100)) throw new ConfigError('interval must be at least 0.1 s');
  if (c.cloud && (!c.cloud.apiUrl || !c.cloud.deviceId || !c.cloud.tokenFile))
    throw new ConfigError('--api-url, --device-id and --token-file go together');
  if (c.cloud) {
    try {
      new URL(c.cloud.apiUrl);
    } catch {
      throw new ConfigError(`invalid --api-url '${c.cloud.apiUrl}'`);
    }
    if (c.cloud.pushUrl !== undefined && !/^wss?:\/\/[^/\s]+/.test(c.cloud.pushUrl))
      throw new ConfigError(`invalid --push-url '${c.cloud.pushUrl}' (ws:// or wss://)`);
  }
  return c;
}
