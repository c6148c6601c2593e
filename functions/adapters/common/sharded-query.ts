/**
 * Reading a write-sharded sparse GSI (domain/shards.ts): the same key-condition Query against every shard, in
 * parallel, paging through each until it is exhausted or has given `limitPerShard` items. The background workers
 * (timeout sweeper, health evaluator, outbox publisher) find all their work this way, never with a Scan.
 */
import { QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../../lib/aws.js';

/**
 * One Query, paged, at most `limit` items (DynamoDB's Limit caps each page at what is still wanted; an infinite
 * limit reads to the end).
 */
export async function queryUpTo(input: QueryCommandInput, limit: number): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const res = await documentClient().send(
      new QueryCommand({
        ...input,
        Limit: Number.isFinite(limit) ? limit - out.length : undefined,
        ExclusiveStartKey: startKey,
      }),
    );
    out.push(...(res.Items ?? []));
    startKey = res.LastEvaluatedKey;
  } while (startKey && out.length < limit);
  return out;
}

/** How many items `queryFor(shard)` matches over every shard (Select COUNT, each shard paged to its end). */
export async function countShards(shards: string[], queryFor: (shard: string) => QueryCommandInput): Promise<number> {
  const perShard = await Promise.all(
    shards.map(async (shard) => {
      let count = 0;
      let startKey: Record<string, unknown> | undefined;
      do {
        const res = await documentClient().send(
          new QueryCommand({ ...queryFor(shard), Select: 'COUNT', ExclusiveStartKey: startKey }),
        );
        count += res.Count ?? 0;
        startKey = res.LastEvaluatedKey;
      } while (startKey);
      return count;
    }),
  );
  return perShard.reduce((a, b) => a + b, 0);
}

/** `queryFor(shard)` against every shard, at most `limitPerShard` items each, all shards' items together. */
export async function queryShards(
  shards: string[],
  queryFor: (shard: string) => QueryCommandInput,
  limitPerShard: number,
): Promise<Record<string, unknown>[]> {
  const perShard = await Promise.all(shards.map((s) => queryUpTo(queryFor(s), limitPerShard)));
  return perShard.flat();
}
