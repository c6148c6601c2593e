/**
 * Silences (ALERTS_TABLE, one partition `SILENCE`, sort key the silence id). Operators create a handful; every
 * alert raise checks them, so the active ones are cached per process for a few seconds (a new silence takes effect
 * everywhere within SILENCE_CACHE_MS). Expired silences stay listed until DynamoDB's TTL removes them, a week
 * after they end.
 */
import { PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Silence } from '../domain/alerting/silences.js';
import { documentClient } from '../lib/aws.js';
import { config } from '../lib/config.js';
import { isConditionFailure } from './common/conditions.js';

const PK = 'SILENCE';
const KEEP_AFTER_END_SECONDS = 7 * 86400;
/** How long a process trusts its copy of the silences: an alert raised this soon after a change may miss it. */
export const SILENCE_CACHE_MS = 15_000;
/** More silences than this at once is a mistake (one partition, read on every raise). */
export const MAX_SILENCES = 500;

let cache: { at: number; silences: Silence[] } | undefined;

/** Forget the cached silences (after a change in this process, and in tests). */
export function forgetSilences(): void {
  cache = undefined;
}

export async function putSilence(s: Silence): Promise<void> {
  await documentClient().send(
    new PutCommand({
      TableName: config.alertsTable,
      Item: { pk: PK, sk: s.silenceId, ...s, expiresAt: Math.floor(s.endsAt / 1000) + KEEP_AFTER_END_SECONDS },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
  forgetSilences();
}

/** Every stored silence (active, pending and recently ended), oldest first. */
export async function listSilences(): Promise<Silence[]> {
  const out: Silence[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const res = await documentClient().send(
      new QueryCommand({
        TableName: config.alertsTable,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': PK },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of res.Items ?? []) {
      const { pk: _pk, sk: _sk, expiresAt: _e, ...silence } = item;
      out.push(silence as Silence);
    }
    start = res.LastEvaluatedKey;
  } while (start && out.length < MAX_SILENCES * 4);
  return out;
}

/** The silences not yet ended, from a cache at most SILENCE_CACHE_MS old. */
export async function currentSilences(now: number): Promise<Silence[]> {
  if (!cache || Date.now() - cache.at >= SILENCE_CACHE_MS) cache = { at: Date.now(), silences: await listSilences() };
  return cache.silences.filter((s) => s.endsAt > now);
}

/** End a silence now; false when there is none with this id or it had ended already. */
export async function expireSilence(silenceId: string, now: number): Promise<Silence | undefined> {
  try {
    const res = await documentClient().send(
      new UpdateCommand({
        TableName: config.alertsTable,
        Key: { pk: PK, sk: silenceId },
        UpdateExpression: 'SET endsAt = :now',
        ConditionExpression: 'attribute_exists(pk) AND endsAt > :now',
        ExpressionAttributeValues: { ':now': now },
        ReturnValues: 'ALL_NEW',
      }),
    );
    forgetSilences();
    const { pk: _pk, sk: _sk, expiresAt: _e, ...silence } = res.Attributes ?? {};
    return silence as Silence;
  } catch (err) {
    if (isConditionFailure(err)) return undefined;
    throw err;
  }
}
