/**
 * Capacity from the declared fleet size (`fleetSize` CDK context): the API stage throttle and burst, the
 * fleet-size-dependent alarm thresholds, and the figures of the README capacity table. One formula for the stack,
 * the README and the fleet simulator, so they cannot disagree. Pure: no I/O.
 *
 * The stated headroom: the throttle is sized so that at the declared fleet size a fleet that behaves (syncs at
 * the interval the server hands out, ACTIVE_SHARE of it in a short-interval window) uses at most 1/HEADROOM of
 * it. Throttling then only happens beyond the declared size or in a storm — and the agent treats 429 as
 * back-pressure, not as an outage (agent/src/cloud/api-client.ts), so it is never a DeviceOffline.
 */
import type { LivenessSettings } from './liveness.js';

/** Steady traffic × this = the stage's rate limit. */
export const HEADROOM = 2;
/** Share of the fleet assumed to be in its short-interval window (running or just finished a job) at once. */
export const ACTIVE_SHARE = 0.01;
/** The burst covers this many seconds of the rate limit (a reconnect wave is spread by the agents' random pause). */
export const BURST_SECONDS = 2;
/** Device-api Lambda duration assumed for concurrency (measured p50 is lower; a cold or slow DynamoDB call is not). */
export const DEVICE_API_SECONDS = 0.1;
/** Offline devices raising the DevicesOffline alarm: 1 % of the fleet, never fewer than 5. */
export const OFFLINE_ALARM_SHARE = 0.01;
export const OFFLINE_ALARM_MIN = 5;

/** AWS quotas that bind first (defaults of a regular account; new accounts start lower for Lambda). */
export const AWS_QUOTAS = {
  /** API Gateway: account-level throttle per region, requests/s (adjustable). */
  apiGatewayAccountRps: 10_000,
  /** Lambda concurrent executions per region (new accounts: 10 until raised). */
  lambdaConcurrency: 1_000,
  /** DynamoDB on-demand: per-table throughput limit (read and write units per second, adjustable). */
  dynamoTableUnitsPerSecond: 40_000,
} as const;

export interface Capacity {
  fleetSize: number;
  /** Requests/s at the declared size: syncs at the idle interval + the active share at the short one. */
  steadyRps: number;
  apiRateLimit: number;
  apiBurstLimit: number;
  lambdaConcurrency: number;
  /** DynamoDB units per second at steady state (idle sync: 2 RRU, 1 WRU; see SYNC_READ_UNITS). */
  readUnitsPerSecond: number;
  writeUnitsPerSecond: number;
  offlineDevicesThreshold: number;
  /** Quotas the derived figures exceed (empty: none binds at this size). */
  bindingQuotas: string[];
}

/**
 * An idle sync, measured by `npm run bench -- fleet-sim` (and published per request, docs/architecture.md "Per-request
 * cost"): the consistent STATE read (1), the pending-jobs Query (0.5), the TARGET read (0.5); the device-token read is
 * served by the credentials cache (a miss, at most once per DEVICE_CREDENTIALS_CACHE_SECONDS per container, adds 0.5).
 * One write: the liveness item.
 */
export const SYNC_READ_UNITS = 2;
export const SYNC_WRITE_UNITS = 1;

export function capacityFor(
  fleetSize: number,
  liveness: Pick<LivenessSettings, 'heartbeatSeconds' | 'activeSyncSeconds'>,
): Capacity {
  const idle = (fleetSize * (1 - ACTIVE_SHARE)) / liveness.heartbeatSeconds;
  const active = (fleetSize * ACTIVE_SHARE) / liveness.activeSyncSeconds;
  const steadyRps = idle + active;
  const apiRateLimit = Math.max(10, Math.ceil(steadyRps * HEADROOM));
  const apiBurstLimit = Math.max(20, Math.ceil(apiRateLimit * BURST_SECONDS));
  const lambdaConcurrency = Math.ceil(steadyRps * DEVICE_API_SECONDS * HEADROOM);
  const readUnitsPerSecond = Math.ceil(steadyRps * SYNC_READ_UNITS);
  const writeUnitsPerSecond = Math.ceil(steadyRps * SYNC_WRITE_UNITS);
  const bindingQuotas: string[] = [];
  if (apiRateLimit > AWS_QUOTAS.apiGatewayAccountRps)
    bindingQuotas.push(`API Gateway account throttle (${AWS_QUOTAS.apiGatewayAccountRps} rps)`);
  if (lambdaConcurrency > AWS_QUOTAS.lambdaConcurrency)
    bindingQuotas.push(`Lambda concurrency (${AWS_QUOTAS.lambdaConcurrency})`);
  if (Math.max(readUnitsPerSecond, writeUnitsPerSecond) * HEADROOM > AWS_QUOTAS.dynamoTableUnitsPerSecond)
    bindingQuotas.push(`DynamoDB table throughput (${AWS_QUOTAS.dynamoTableUnitsPerSecond}/s)`);
  return {
    fleetSize,
    steadyRps: Math.round(steadyRps * 10) / 10,
    apiRateLimit,
    apiBurstLimit,
    lambdaConcurrency,
    readUnitsPerSecond,
    writeUnitsPerSecond,
    offlineDevicesThreshold: Math.max(OFFLINE_ALARM_MIN, Math.ceil(fleetSize * OFFLINE_ALARM_SHARE)),
    bindingQuotas,
  };
}
