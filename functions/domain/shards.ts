/**
 * Write sharding for the sparse GSIs that background workers scan (outbox, timeouts, liveness, offline).
 * One partition key value per index would be a hot partition; a handful of fixed shards spreads the
 * writes while a worker still finds all work with one Query per shard. The counts are part of the
 * data model: writers and readers must agree, so they live here and nowhere else.
 */
import { createHash } from 'node:crypto';

export const OUTBOX_SHARDS = 4;
export const TIMEOUT_SHARDS = 4;
export const LIVENESS_SHARDS = 4;
export const OFFLINE_SHARDS = 4;

/** Stable shard for a key (a job id, a device id). */
export function shardOf(key: string, count: number): number {
  const h = createHash('sha1').update(key).digest();
  return h.readUInt32BE(0) % count;
}

export const outboxShard = (jobId: string) => `outbox#${shardOf(jobId, OUTBOX_SHARDS)}`;
export const timeoutShard = (jobId: string) => `timeout#${shardOf(jobId, TIMEOUT_SHARDS)}`;
export const livenessShard = (deviceId: string) => `live#${shardOf(deviceId, LIVENESS_SHARDS)}`;
export const offlineShard = (deviceId: string) => `off#${shardOf(deviceId, OFFLINE_SHARDS)}`;

/** Every shard value of an index, for the workers that query them all. */
export const allShards = (prefix: 'outbox' | 'timeout' | 'live' | 'off', count: number) =>
  Array.from({ length: count }, (_, i) => `${prefix}#${i}`);
