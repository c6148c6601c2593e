/**
 * Hourly recovery counters in FLEET_TABLE (docs/architecture.md, "Recovery statistics"):
 *   per device  pk `RSTAT#<deviceId>`, sk `<yyyy-mm-ddThh>`
 *   fleet-wide  pk `RSTATS#<n>` (n < RECOVERY_STATS_SHARDS, by device), sk `<yyyy-mm-ddThh>`
 * Attributes `<strategy>_<outcome>` are counts, added with atomic ADD: no read, no race. Kept 8 days (TTL), a day
 * past the longest window. A device's counters are in a partition of their own so reading a device's items
 * (`DEVICE#<id>`) never drags a week of buckets along.
 */
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { allRecoveryStatsShards, recoveryStatsShard } from '../domain/shards.js';
import { hourBucket, type RecoveryBucket, type RecoveryCounts } from '../domain/recovery-stats.js';
import { documentClient } from '../lib/aws.js';
import { config } from '../lib/config.js';

const KEEP_SECONDS = 8 * 86400;
export const deviceStatsPk = (deviceId: string) => `RSTAT#${deviceId}`;

/** Adds the counts to the device's and the fleet's bucket of the hour `now` is in (two UpdateItems). */
export async function addRecoveryCounts(deviceId: string, counts: RecoveryCounts, now: number): Promise<void> {
  const names = Object.keys(counts).filter((k) => counts[k]! > 0);
  if (names.length === 0) return;
  const hour = hourBucket(now);
  const update = {
    UpdateExpression: `SET expiresAt = :exp ADD ${names.map((_, i) => `#c${i} :c${i}`).join(', ')}`,
    ExpressionAttributeNames: Object.fromEntries(names.map((n, i) => [`#c${i}`, n])),
    ExpressionAttributeValues: {
      ':exp': Math.floor(Date.parse(`${hour}:00:00.000Z`) / 1000) + KEEP_SECONDS,
      ...Object.fromEntries(names.map((n, i) => [`:c${i}`, counts[n]])),
    },
  };
  await Promise.all(
    [deviceStatsPk(deviceId), recoveryStatsShard(deviceId)].map((pk) =>
      documentClient().send(new UpdateCommand({ TableName: config.fleetTable, Key: { pk, sk: hour }, ...update })),
    ),
  );
}

/** The buckets from `fromHour` on: one device's (one Query), or the fleet's (one Query per shard, summed). */
export async function readRecoveryBuckets(q: { deviceId?: string; fromHour: string }): Promise<RecoveryBucket[]> {
  const pks = q.deviceId ? [deviceStatsPk(q.deviceId)] : allRecoveryStatsShards();
  const byHour = new Map<string, RecoveryCounts>();
  await Promise.all(
    pks.map(async (pk) => {
      let start: Record<string, unknown> | undefined;
      do {
        const res = await documentClient().send(
          new QueryCommand({
            TableName: config.fleetTable,
            KeyConditionExpression: 'pk = :pk AND sk >= :from',
            ExpressionAttributeValues: { ':pk': pk, ':from': q.fromHour },
            ExclusiveStartKey: start,
          }),
        );
        for (const item of res.Items ?? []) {
          const hour = String(item.sk);
          const counts = byHour.get(hour) ?? {};
          for (const [k, v] of Object.entries(item))
            if (k !== 'pk' && k !== 'sk' && k !== 'expiresAt' && typeof v === 'number')
              counts[k] = (counts[k] ?? 0) + v;
          byHour.set(hour, counts);
        }
        start = res.LastEvaluatedKey;
      } while (start);
    }),
  );
  return [...byHour.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([hour, counts]) => ({ hour, counts }));
}
