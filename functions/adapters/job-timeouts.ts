/**
 * The sweeper's work list: IN_PROGRESS jobs past their deadline, from the sparse `timeouts` GSI
 * (pk `timeoutShard`, sk `timeoutAtEpoch`; present only while IN_PROGRESS, removed by every transition out of it).
 * The index is eventually consistent: callers re-read each job before acting on it.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { allShards, TIMEOUT_SHARDS } from '../domain/shards.js';
import { documentClient } from '../lib/aws.js';
import { config } from '../lib/config.js';

export interface TimeoutCandidate {
  jobId: string;
  timeoutAtEpoch: number;
}

/** Jobs of one shard whose deadline is at or before `now`, earliest first, at most `limit`. */
export async function listOverdue(shard: string, now: number, limit: number): Promise<TimeoutCandidate[]> {
  const out: TimeoutCandidate[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const res = await documentClient().send(
      new QueryCommand({
        TableName: config.jobsTable,
        IndexName: 'timeouts',
        KeyConditionExpression: 'timeoutShard = :s AND timeoutAtEpoch <= :now',
        ExpressionAttributeValues: { ':s': shard, ':now': now },
        ProjectionExpression: 'jobId, timeoutAtEpoch',
        ScanIndexForward: true,
        Limit: limit - out.length,
        ExclusiveStartKey: startKey,
      }),
    );
    for (const i of res.Items ?? []) out.push({ jobId: String(i.jobId), timeoutAtEpoch: Number(i.timeoutAtEpoch) });
    startKey = res.LastEvaluatedKey;
  } while (startKey && out.length < limit);
  return out;
}

export async function listAllOverdue(now: number, limitPerShard: number): Promise<TimeoutCandidate[]> {
  const perShard = await Promise.all(allShards('timeout', TIMEOUT_SHARDS).map((s) => listOverdue(s, now, limitPerShard)));
  return perShard.flat();
}
