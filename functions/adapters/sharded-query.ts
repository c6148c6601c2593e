/**
 * Reading a write-sharded sparse GSI (domain/shards.ts): the same key-condition Query against every shard, in
 * parallel, paging through each until it is exhausted or has given `limitPerShard` items. The background workers
 * (timeout sweeper, health evaluator, outbox publisher) find all their work this way, never with a Scan.
 */
import { QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../lib/aws.js';

/** One Query, paged, at most `limit` items (DynamoDB's Limit caps each page at what is still wanted). */
export async function queryUpTo(input: QueryCommandInput, limit: number): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const res = await documentClient().send(new QueryCommand({ ...input, Limit: limit - out.length, ExclusiveStartKey: startKey }));
    out.push(...(res.Items ?? []));
    startKey = res.LastEvaluatedKey;
  } while (startKey && out.length < limit);
  return out;
}

/** `queryFor(shard)` against every shard, at most `limitPerShard` items each, all shards' items together. */
export async function queryShards(shards: string[], queryFor: (shard: string) => QueryCommandInput, limitPerShard: number): Promise<Record<string, unknown>[]> {
  const perShard = await Promise.all(shards.map((s) => queryUpTo(queryFor(s), limitPerShard)));
  return perShard.flat();
}
