/**
 * Alert dedupe records in ALERTS_TABLE: reading one, and writing it only if nobody wrote it since it was read.
 * What a raise or a resolve writes, and who hears about it, is decided in services/alert-raising.ts.
 *
 * ALERTS_TABLE items (TTL `expiresAt`, epoch s):
 *   ALERT#<dedupeKey>          / STATE                    one dedupe record per alert key (AlertRecord + version)
 *
 * Every record write is conditional on the version read (optimistic concurrency): two Lambdas raising the same
 * key at once produce one notification and one suppression, never two notifications.
 */
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { AlertPolicyConfig, AlertRecord } from '../domain/alerting/dedupe.js';
import { documentClient } from '../lib/aws.js';
import { config } from '../lib/config.js';
import { isConditionFailure, writeIf } from './common/conditions.js';

const recordKey = (dedupeKey: string) => ({ pk: `ALERT#${dedupeKey}`, sk: 'STATE' });

export async function getAlertRecord(dedupeKey: string): Promise<AlertRecord | undefined> {
  const res = await documentClient().send(
    new GetCommand({ TableName: config.alertsTable, Key: recordKey(dedupeKey), ConsistentRead: true }),
  );
  if (!res.Item) return undefined;
  const { pk: _pk, sk: _sk, expiresAt: _e, ...rest } = res.Item;
  return rest as AlertRecord;
}

/**
 * Write `next` only if the stored version is still `prevVersion` (0: no record yet): true when written, false when
 * another writer came first. The record outlives its cooldown by the policy's retention (TTL).
 */
export function writeAlertRecord(
  next: AlertRecord,
  prevVersion: number,
  now: number,
  policy: AlertPolicyConfig,
): Promise<boolean> {
  const expiresAt = Math.floor((Math.max(now, next.cooldownUntil) + policy.recordRetentionMs) / 1000);
  return writeIf(
    new PutCommand({
      TableName: config.alertsTable,
      Item: { ...recordKey(next.dedupeKey), ...next, expiresAt },
      ConditionExpression: prevVersion === 0 ? 'attribute_not_exists(pk)' : 'version = :v',
      ...(prevVersion === 0 ? {} : { ExpressionAttributeValues: { ':v': prevVersion } }),
    }),
  );
}

/** Delete the record if it is still at `version`: true when deleted, false when someone wrote it since. */
export function deleteAlertRecord(dedupeKey: string, version: number): Promise<boolean> {
  return writeIf(
    new DeleteCommand({
      TableName: config.alertsTable,
      Key: recordKey(dedupeKey),
      ConditionExpression: 'version = :v',
      ExpressionAttributeValues: { ':v': version },
    }),
  );
}

/** Note on a grouped record which group window it joined, if the record is still at `version`. */
export async function setMemberWindow(
  dedupeKey: string,
  version: number,
  groupKey: string,
  windowId: string,
): Promise<void> {
  try {
    await documentClient().send(
      new UpdateCommand({
        TableName: config.alertsTable,
        Key: recordKey(dedupeKey),
        UpdateExpression: 'SET #group = :g',
        ConditionExpression: 'version = :v',
        ExpressionAttributeNames: { '#group': 'group' },
        ExpressionAttributeValues: { ':g': { key: groupKey, windowId }, ':v': version },
      }),
    );
  } catch (err) {
    // Someone resolved/raised the key meanwhile; resolution then falls back to the group's open window.
    if (!isConditionFailure(err)) throw err;
  }
}

/** Forget which group window a record belongs to, if the record is still at `version`. */
export async function clearMemberWindow(dedupeKey: string, version: number): Promise<void> {
  try {
    await documentClient().send(
      new UpdateCommand({
        TableName: config.alertsTable,
        Key: recordKey(dedupeKey),
        UpdateExpression: 'REMOVE #group',
        ConditionExpression: 'version = :v',
        ExpressionAttributeNames: { '#group': 'group' },
        ExpressionAttributeValues: { ':v': version },
      }),
    );
  } catch (err) {
    // Someone resolved/raised the key meanwhile and wrote its own view of the group.
    if (!isConditionFailure(err)) throw err;
  }
}
