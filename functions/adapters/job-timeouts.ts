/**
 * The sweeper's work list: IN_PROGRESS jobs past their deadline, from the sparse `timeouts` GSI
 * (pk `timeoutShard`, sk `timeoutAtEpoch`; present only while IN_PROGRESS, removed by every transition out of it).
 * The index is eventually consistent: callers re-read each job before acting on it.
 */
import { allShards, TIMEOUT_SHARDS } from '../domain/shards.js';
import { config } from '../lib/config.js';
import { queryShards } from './common/sharded-query.js';

export interface TimeoutCandidate {
  jobId: string;
  timeoutAtEpoch: number;
}

/** Jobs whose deadline is at or before `now`, earliest first per shard, at most `limitPerShard` of each shard. */
export async function listAllOverdue(now: number, limitPerShard: number): Promise<TimeoutCandidate[]> {
  const items = await queryShards(
    allShards('timeout', TIMEOUT_SHARDS),
    (shard) => ({
      TableName: config.jobsTable,
      IndexName: 'timeouts',
      KeyConditionExpression: 'timeoutShard = :s AND timeoutAtEpoch <= :now',
      ExpressionAttributeValues: { ':s': shard, ':now': now },
      ProjectionExpression: 'jobId, timeoutAtEpoch',
      ScanIndexForward: true,
    }),
    limitPerShard,
  );
  return items.map((i) => ({ jobId: String(i.jobId), timeoutAtEpoch: Number(i.timeoutAtEpoch) }));
}
