/**
 * Write sharding for the sparse GSIs that background workers query (outbox, timeouts, offline) and for the
 * liveness partitions.
 * One partition key value per index would be a hot partition; a handful of fixed shards spreads the
 * writes while a worker still finds all work with one Query per shard. The counts are part of the
 * data model: writers and readers must agree, so they live here and nowhere else.
 */
import { createHash } from 'node:crypto';

export const OUTBOX_SHARDS = 4;
export const TIMEOUT_SHARDS = 4;
/**
 * Liveness items live in their own partitions (`LIVE#<n>`, one item per device): every sync writes one, and the
 * evaluator reads each partition once a minute. 16 partitions keep each far below DynamoDB's per-partition write
 * limit (1,000 WCU/s) at 100,000 devices syncing every 60 s (~105 writes/s each).
 */
export const LIVENESS_PARTITIONS = 16;
export const OFFLINE_SHARDS = 4;
/** Circuits not closed (the fleet table's sparse `byOpenCircuit` index): few at a time, a few shards suffice. */
export const OPEN_CIRCUIT_SHARDS = 4;
/**
 * Events by type (the events table's `byType` index, partition `<type>#<n>`): a fleet-wide burst of one type (a
 * bad image reaching every device makes 100,000 `service.error` events within a sync period, ~1,700 writes/s)
 * spread over 4 partitions stays below DynamoDB's 1,000 writes/s per partition; a listing reads 4 partitions.
 */
export const EVENT_TYPE_SHARDS = 4;

/** Stable shard for a key (a job id, a device id). */
export function shardOf(key: string, count: number): number {
  const h = createHash('sha1').update(key).digest();
  return h.readUInt32BE(0) % count;
}

export const outboxShard = (jobId: string) => `outbox#${shardOf(jobId, OUTBOX_SHARDS)}`;
export const timeoutShard = (jobId: string) => `timeout#${shardOf(jobId, TIMEOUT_SHARDS)}`;
export const livenessPartition = (deviceId: string) => `LIVE#${shardOf(deviceId, LIVENESS_PARTITIONS)}`;
export const allLivenessPartitions = () => Array.from({ length: LIVENESS_PARTITIONS }, (_, i) => `LIVE#${i}`);
export const eventTypeShard = (type: string, key: string) => `${type}#${shardOf(key, EVENT_TYPE_SHARDS)}`;
export const allEventTypeShards = (type: string) => Array.from({ length: EVENT_TYPE_SHARDS }, (_, i) => `${type}#${i}`);
export const offlineShard = (deviceId: string) => `off#${shardOf(deviceId, OFFLINE_SHARDS)}`;
/**
 * Offline but silenced by a device-wide marker (maintenance, or a manual stop of the whole device): in the same
 * `byOffline` index under other partition values, so the `devices_offline` count (the `off#` shards only) leaves
 * it out, while the evaluator still finds it when the marker ends (docs/architecture.md, "Offline and markers").
 */
export const silencedOfflineShard = (deviceId: string) => `offsil#${shardOf(deviceId, OFFLINE_SHARDS)}`;

export const openCircuitShard = (deviceId: string) => `circ#${shardOf(deviceId, OPEN_CIRCUIT_SHARDS)}`;

/** Every shard value of an index, for the workers that query them all. */
export const allShards = (prefix: 'outbox' | 'timeout' | 'off' | 'offsil' | 'circ', count: number) =>
  Array.from({ length: count }, (_, i) => `${prefix}#${i}`);

/**
 * Fleet-wide hourly recovery counters (`RSTATS#<n>` partitions of FLEET_TABLE, one item an hour each): every
 * recovery attempt anywhere adds to one of them. A fleet-wide incident (every device restarting a service within a
 * few minutes) is a few hundred atomic ADDs a second; 8 items share them, and a reader sums 8 Queries.
 */
export const RECOVERY_STATS_SHARDS = 8;
export const recoveryStatsShard = (deviceId: string) => `RSTATS#${shardOf(deviceId, RECOVERY_STATS_SHARDS)}`;
export const allRecoveryStatsShards = () => Array.from({ length: RECOVERY_STATS_SHARDS }, (_, i) => `RSTATS#${i}`);
