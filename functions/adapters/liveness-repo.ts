/**
 * (`offlineSinceEpoch`, not `offlineAt`: that name is the byOffline index's string sort key on this table, and
 * DynamoDB types an index key attribute on every item.)
 *
 * Device liveness in FLEET_TABLE: one small item per device, `pk = LIVE#<n>` (functions/domain/shards.ts),
 * `sk = <deviceId>`, holding `lastSeenEpoch` and, while the device is offline, `offlineSinceEpoch` (+ `offlineRecorded`
 * once the offline marking is complete). `activeUntilEpoch` keeps the device on the short sync interval.
 *
 * Why its own item: every sync stores its sign of life (docs/architecture.md "Liveness"), so the write must be
 * as small as DynamoDB allows — 1 write unit, no index to maintain (the STATE item is larger and indexed). The
 * evaluator reads each partition once a minute (~70 B a device) and keeps the quiet ones: no table scan, no GSI.
 */
import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { allLivenessPartitions, livenessPartition } from '../domain/shards.js';
import { documentClient } from '../lib/aws.js';
import { config } from '../lib/config.js';
import { isConditionFailure, updateIf } from './common/conditions.js';
import { queryShards } from './common/sharded-query.js';

const key = (deviceId: string) => ({ pk: livenessPartition(deviceId), sk: deviceId });

export interface LivenessBefore {
  /** The short-interval window opened by job activity, as stored before this sign of life. */
  activeUntilEpoch?: number;
  /** The device was marked offline (it is back now). */
  wasOffline: boolean;
}

/**
 * Store a sign of life (1 WCU). It also takes the device out of the offline set. The item's previous values come
 * back with the write (ReturnValues costs no read unit), so the sync learns its short-interval window for free.
 */
export async function touchLiveness(deviceId: string, now: number): Promise<LivenessBefore> {
  const res = await documentClient().send(
    new UpdateCommand({
      TableName: config.fleetTable,
      Key: key(deviceId),
      UpdateExpression: 'SET lastSeenEpoch = :now REMOVE offlineSinceEpoch, offlineRecorded, disconnectedEpoch',
      ExpressionAttributeValues: { ':now': now },
      ReturnValues: 'ALL_OLD',
    }),
  );
  const old = res.Attributes ?? {};
  return {
    ...(typeof old.activeUntilEpoch === 'number' ? { activeUntilEpoch: old.activeUntilEpoch } : {}),
    wasOffline: old.offlineSinceEpoch !== undefined,
  };
}

/** Open (or extend) the device's short-interval window: job activity makes a follow-up command likely. */
export async function openActiveWindow(deviceId: string, untilEpoch: number): Promise<void> {
  await documentClient()
    .send(
      new UpdateCommand({
        TableName: config.fleetTable,
        Key: key(deviceId),
        UpdateExpression: 'SET activeUntilEpoch = :u',
        ConditionExpression: 'attribute_not_exists(activeUntilEpoch) OR activeUntilEpoch < :u',
        ExpressionAttributeValues: { ':u': untilEpoch },
      }),
    )
    .catch((err: unknown) => {
      if (!isConditionFailure(err)) throw err; // already open at least that long
    });
}

/**
 * The device closed its push connection cleanly (its agent is stopping): from now on its silence counts from the
 * shorter disconnect grace (domain/liveness.ts disconnectedCutoff). Its next sign of life removes the mark. Only a
 * device that has a liveness item is marked (never creates one).
 */
export async function markCleanDisconnect(deviceId: string, now: number): Promise<boolean> {
  return await updateIf({
    TableName: config.fleetTable,
    Key: key(deviceId),
    UpdateExpression: 'SET disconnectedEpoch = :now',
    ConditionExpression: 'attribute_exists(lastSeenEpoch)',
    ExpressionAttributeValues: { ':now': now },
  });
}

export interface QuietDevice {
  deviceId: string;
  lastSeenEpoch: number;
  /** Set when a previous run claimed it but did not finish marking it offline (it crashed): finish the job. */
  offlineAt?: number;
}

/**
 * Devices whose last sign of life is older than the cutoff, or that disconnected cleanly before the disconnect
 * cutoff and stayed silent since (a sign of life removes the mark), and whose offline marking is not complete:
 * one Query per liveness partition (the filter runs server-side; the read is ~70 B per device of the partition).
 */
export async function findQuietDevices(
  cutoffEpochMs: number,
  limitPerPartition = 100_000,
  disconnectedCutoffEpochMs = Number.NEGATIVE_INFINITY,
): Promise<QuietDevice[]> {
  const disconnected = Number.isFinite(disconnectedCutoffEpochMs);
  const items = await queryShards(
    allLivenessPartitions(),
    (pk) => ({
      TableName: config.fleetTable,
      KeyConditionExpression: 'pk = :pk',
      FilterExpression: disconnected
        ? '(lastSeenEpoch < :cutoff OR disconnectedEpoch < :dcut) AND attribute_not_exists(offlineRecorded)'
        : 'lastSeenEpoch < :cutoff AND attribute_not_exists(offlineRecorded)',
      ExpressionAttributeValues: {
        ':pk': pk,
        ':cutoff': cutoffEpochMs,
        ...(disconnected ? { ':dcut': disconnectedCutoffEpochMs } : {}),
      },
      ProjectionExpression: 'sk, lastSeenEpoch, offlineSinceEpoch',
    }),
    limitPerPartition,
  );
  return items
    .map((i) => ({
      deviceId: String(i.sk),
      lastSeenEpoch: Number(i.lastSeenEpoch),
      ...(typeof i.offlineSinceEpoch === 'number' ? { offlineAt: i.offlineSinceEpoch } : {}),
    }))
    .sort((a, b) => a.lastSeenEpoch - b.lastSeenEpoch || a.deviceId.localeCompare(b.deviceId));
}

/** Claim a quiet device for marking offline, only if no sign of life arrived since it was read. */
export async function claimOffline(deviceId: string, seenLastSeenEpoch: number, now: number): Promise<boolean> {
  return await updateIf({
    TableName: config.fleetTable,
    Key: key(deviceId),
    UpdateExpression: 'SET offlineSinceEpoch = :now',
    ConditionExpression: 'lastSeenEpoch = :seen AND attribute_not_exists(offlineSinceEpoch)',
    ExpressionAttributeValues: { ':now': now, ':seen': seenLastSeenEpoch },
  });
}

/** The offline marking is complete (state marked, event recorded): later runs skip the device. */
export async function offlineRecorded(deviceId: string, offlineAt: number): Promise<void> {
  await documentClient()
    .send(
      new UpdateCommand({
        TableName: config.fleetTable,
        Key: key(deviceId),
        UpdateExpression: 'SET offlineRecorded = :t',
        ConditionExpression: 'offlineSinceEpoch = :at',
        ExpressionAttributeValues: { ':t': true, ':at': offlineAt },
      }),
    )
    .catch((err: unknown) => {
      if (!isConditionFailure(err)) throw err; // it came back meanwhile: nothing to record
    });
}

/** A decommissioned device leaves the liveness partitions: it must never be marked (or alerted) offline. */
export async function retireLiveness(deviceId: string): Promise<void> {
  await documentClient().send(new DeleteCommand({ TableName: config.fleetTable, Key: key(deviceId) }));
}
