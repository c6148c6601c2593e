/**
 * Devices in FLEET_TABLE: `DEVICE#<id>` with sk META (identity + token hash), STATE (merged reports),
 * TARGET (desired state). Listing goes through the sparse GSI `devices` (only META items carry `entity`).
 *
 * Longer than the ~400 lines a file keeps to: it is the whole I/O of one concern, the device partition of
 * FLEET_TABLE and its two indexes, and every function here shares the key layout above; split by caller, the
 * layout would be spread over several files.
 */
import {
  BatchGetItemCommand,
  QueryCommand as RawQueryCommand,
  type BatchGetItemCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { StoredCredentials } from '../lib/token.js';
import type { TargetStateDocument } from '../contract/target-state.js';
import type { StoredDeviceState } from '../domain/report-merge.js';
import { allShards, OFFLINE_SHARDS, offlineShard, silencedOfflineShard } from '../domain/shards.js';
import { documentClient, dynamo } from '../lib/aws.js';
import { config } from '../lib/config.js';
import { isConditionFailure, updateIf, writeIf } from './common/conditions.js';
import { rawString, readItems, type RawItem, type UnreadableItem } from './common/item-reader.js';
import { countShards, queryShards } from './common/sharded-query.js';
import { devicePk } from './common/keys.js';

export { devicePk };

export interface DeviceMeta extends StoredCredentials {
  deviceId: string;
  name?: string;
  labels?: Record<string, string>;
  createdAt: string;
  /** Set by the last token rotation. */
  tokenRotatedAt?: string;
}

/**
 * What a decommissioned device leaves behind: its META item without any token hash and out of the `devices`
 * listing, until its TTL removes it (the id stays taken until then, so a stale agent cannot be re-registered by
 * accident under it).
 */
export interface DecommissionedMeta {
  deviceId: string;
  decommissionedAt: string;
  expiresAt: number;
}

/** How long a decommissioned device's items are kept before DynamoDB's TTL removes them. */
export const DECOMMISSIONED_TTL_SECONDS = 7 * 86400;

/** Everything stored under one device, from one Query. */
export interface DeviceItems {
  meta?: DeviceMeta;
  state?: StoredDeviceState;
  target?: TargetStateDocument;
  /** Raw items with other sort keys (CIRCUIT, MARKER#..., RECOVERY#...), keyed by sk. */
  others: Map<string, Record<string, unknown>>;
  /** Items of the device stored in a shape that cannot be read (left out of the fields above). */
  unreadable: UnreadableItem[];
}

const KEY_FIELDS = ['pk', 'sk', 'entity', 'livenessShard', 'offlineShard'] as const;
function strip<T>(item: Record<string, unknown> | undefined): T | undefined {
  if (!item) return undefined;
  const copy: Record<string, unknown> = { ...item };
  for (const k of KEY_FIELDS) delete copy[k];
  return copy as T;
}

export class DeviceExistsError extends Error {
  constructor(deviceId: string) {
    super(`device ${deviceId} already exists`);
    this.name = 'DeviceExistsError';
  }
}

/** Create the META item; fails with DeviceExistsError if the id is taken. */
export async function createDevice(meta: DeviceMeta): Promise<void> {
  try {
    await documentClient().send(
      new PutCommand({
        TableName: config.fleetTable,
        Item: { pk: devicePk(meta.deviceId), sk: 'META', entity: 'device', ...meta },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  } catch (err) {
    if (isConditionFailure(err)) throw new DeviceExistsError(meta.deviceId);
    throw err;
  }
}

/** The META of a device in service (a decommissioned device reads as absent). */
export async function getDeviceMeta(deviceId: string): Promise<DeviceMeta | undefined> {
  const res = await documentClient().send(
    new GetCommand({ TableName: config.fleetTable, Key: { pk: devicePk(deviceId), sk: 'META' } }),
  );
  return res.Item?.decommissionedAt ? undefined : strip<DeviceMeta>(res.Item);
}

/** The META item whatever its state: in service, or decommissioned (a tombstone until its TTL). */
export async function getDeviceRecord(
  deviceId: string,
): Promise<{ meta?: DeviceMeta; decommissioned?: DecommissionedMeta }> {
  const res = await documentClient().send(
    new GetCommand({ TableName: config.fleetTable, Key: { pk: devicePk(deviceId), sk: 'META' }, ConsistentRead: true }),
  );
  if (!res.Item) return {};
  if (res.Item.decommissionedAt) return { decommissioned: strip<DecommissionedMeta>(res.Item)! };
  return { meta: strip<DeviceMeta>(res.Item)! };
}

const CREDENTIAL_FIELDS = [
  'tokenSalt',
  'tokenHash',
  'previousTokenSalt',
  'previousTokenHash',
  'previousTokenExpiresAt',
] as const;

/**
 * Only the token hashes of a device (what authentication needs: a small projection of META). Undefined when the
 * device does not exist or is decommissioned (its META then holds no hash). `consistent` for a re-read after a
 * refused token, so a token rotated a moment ago is seen.
 */
export async function getDeviceCredentials(
  deviceId: string,
  consistent = false,
): Promise<StoredCredentials | undefined> {
  const res = await documentClient().send(
    new GetCommand({
      TableName: config.fleetTable,
      Key: { pk: devicePk(deviceId), sk: 'META' },
      ProjectionExpression: CREDENTIAL_FIELDS.join(', '),
      ConsistentRead: consistent,
    }),
  );
  const item = res.Item;
  if (!item?.tokenSalt || !item.tokenHash) return undefined;
  const creds: StoredCredentials = { tokenSalt: String(item.tokenSalt), tokenHash: String(item.tokenHash) };
  if (item.previousTokenSalt && item.previousTokenHash && item.previousTokenExpiresAt !== undefined) {
    creds.previousTokenSalt = String(item.previousTokenSalt);
    creds.previousTokenHash = String(item.previousTokenHash);
    creds.previousTokenExpiresAt = Number(item.previousTokenExpiresAt);
  }
  return creds;
}

/**
 * Replace a device's tokens, conditional on the current hash being the one the rotation was computed from (two
 * rotations racing: one wins, the other gets false and re-reads). `previous` is the token that stays valid for
 * the overlap, or null to drop any previous token at once.
 */
export function rotateCredentials(
  deviceId: string,
  expectedTokenHash: string,
  next: { tokenSalt: string; tokenHash: string },
  previous: { tokenSalt: string; tokenHash: string; expiresAt: number } | null,
  now: number,
): Promise<boolean> {
  const values: Record<string, unknown> = {
    ':salt': next.tokenSalt,
    ':hash': next.tokenHash,
    ':expected': expectedTokenHash,
    ':at': new Date(now).toISOString(),
  };
  let update = 'SET tokenSalt = :salt, tokenHash = :hash, tokenRotatedAt = :at';
  if (previous) {
    update += ', previousTokenSalt = :psalt, previousTokenHash = :phash, previousTokenExpiresAt = :pexp';
    Object.assign(values, { ':psalt': previous.tokenSalt, ':phash': previous.tokenHash, ':pexp': previous.expiresAt });
  } else {
    update += ' REMOVE previousTokenSalt, previousTokenHash, previousTokenExpiresAt';
  }
  return writeIf(
    new UpdateCommand({
      TableName: config.fleetTable,
      Key: { pk: devicePk(deviceId), sk: 'META' },
      UpdateExpression: update,
      ConditionExpression: 'tokenHash = :expected AND attribute_not_exists(decommissionedAt)',
      ExpressionAttributeValues: values,
    }),
  );
}

/**
 * Step 1 of a decommission, the one that revokes: the META item loses every token hash and leaves the `devices`
 * listing, and gets a TTL. Idempotent: a device already decommissioned keeps its first `decommissionedAt`.
 * Returns the tombstone, or undefined when there is no such device.
 */
export async function revokeDevice(deviceId: string, now: number): Promise<DecommissionedMeta | undefined> {
  try {
    const res = await documentClient().send(
      new UpdateCommand({
        TableName: config.fleetTable,
        Key: { pk: devicePk(deviceId), sk: 'META' },
        UpdateExpression:
          'SET decommissionedAt = if_not_exists(decommissionedAt, :at), expiresAt = if_not_exists(expiresAt, :exp) ' +
          'REMOVE entity, tokenSalt, tokenHash, previousTokenSalt, previousTokenHash, previousTokenExpiresAt',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: {
          ':at': new Date(now).toISOString(),
          ':exp': Math.floor(now / 1000) + DECOMMISSIONED_TTL_SECONDS,
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return {
      deviceId,
      decommissionedAt: String(res.Attributes!.decommissionedAt),
      expiresAt: Number(res.Attributes!.expiresAt),
    };
  } catch (err) {
    if (isConditionFailure(err)) return undefined;
    throw err;
  }
}

/**
 * Step 2: every other item of the device (STATE, TARGET, CIRCUIT, MARKER#..., RECOVERY#...) gets the same TTL;
 * CIRCUIT leaves the `byOpenCircuit` index; STATE also leaves the `byLiveness` and `byOffline` indexes (so the device is never marked or counted offline)
 * and is stamped `decommissionedAt`, which the report writers' conditions refuse (a report authenticated from a
 * still-warm credentials cache cannot put it back into the indexes). One small update per item; idempotent.
 */
export async function retireDeviceItems(deviceId: string, tombstone: DecommissionedMeta): Promise<number> {
  const items = await getDeviceItems(deviceId);
  // An item that cannot be read still gets its TTL: the update needs only its key.
  const keys = [
    ...(items.state ? ['STATE'] : []),
    ...(items.target ? ['TARGET'] : []),
    ...items.others.keys(),
    ...items.unreadable.map((u) => u.item).filter((sk) => sk !== 'META'),
  ];
  for (const sk of keys) {
    const state = sk === 'STATE';
    await documentClient()
      .send(
        new UpdateCommand({
          TableName: config.fleetTable,
          Key: { pk: devicePk(deviceId), sk },
          UpdateExpression: state
            ? 'SET expiresAt = :exp, decommissionedAt = :at REMOVE livenessShard, offlineShard, offlineAt'
            : // An open circuit of a retired device leaves the byOpenCircuit index: nothing to reset there.
              sk === 'CIRCUIT'
              ? 'SET expiresAt = :exp REMOVE openCircuitShard'
              : 'SET expiresAt = :exp',
          // Never below an earlier expiry of its own (a marker that ends sooner keeps ending sooner).
          ConditionExpression: state
            ? 'attribute_exists(pk)'
            : 'attribute_exists(pk) AND (attribute_not_exists(expiresAt) OR expiresAt > :exp)',
          ExpressionAttributeValues: state
            ? { ':exp': tombstone.expiresAt, ':at': tombstone.decommissionedAt }
            : { ':exp': tombstone.expiresAt },
        }),
      )
      .catch((err: unknown) => {
        if (!isConditionFailure(err)) throw err;
      });
  }
  return keys.length;
}

export async function getDeviceState(deviceId: string, consistent = true): Promise<StoredDeviceState | undefined> {
  const res = await documentClient().send(
    new GetCommand({
      TableName: config.fleetTable,
      Key: { pk: devicePk(deviceId), sk: 'STATE' },
      ConsistentRead: consistent,
    }),
  );
  return strip<StoredDeviceState>(res.Item);
}

export async function getDeviceItems(deviceId: string): Promise<DeviceItems> {
  const out: DeviceItems = { others: new Map(), unreadable: [] };
  let startKey: RawItem | undefined;
  do {
    // Raw client, items read one by one: one unreadable item is named in `unreadable`, the others still served.
    const res = await dynamo().send(
      new RawQueryCommand({
        TableName: config.fleetTable,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: devicePk(deviceId) } },
        ExclusiveStartKey: startKey,
      }),
    );
    const { items, unreadable } = readItems<Record<string, unknown>>('device', res.Items ?? [], nameDeviceItem);
    out.unreadable.push(...unreadable);
    for (const item of items) {
      const sk = item.sk as string;
      if (sk === 'META') out.meta = item.decommissionedAt ? undefined : strip<DeviceMeta>(item);
      else if (sk === 'STATE') out.state = strip<StoredDeviceState>(item);
      else if (sk === 'TARGET') out.target = strip<TargetStateDocument>(item);
      else out.others.set(sk, item);
    }
    startKey = res.LastEvaluatedKey;
  } while (startKey);
  return out;
}

/**
 * Store a merged state. `expectedLastSeq` is the sequence the merge was based on (undefined: no state yet);
 * a concurrent report that got there first makes this fail with `false` so the caller can re-read and re-merge.
 * The item is replaced whole, so an `offlineShard` left by markStateOffline goes with it (the device is back).
 * Liveness is not here: it has its own small item (adapters/liveness-repo.ts); a leftover `livenessShard` from
 * the earlier data model is dropped by the same replacement.
 */
export function putDeviceState(
  deviceId: string,
  state: StoredDeviceState,
  expectedLastSeq: number | undefined,
): Promise<boolean> {
  return writeIf(
    new PutCommand({
      TableName: config.fleetTable,
      Item: { pk: devicePk(deviceId), sk: 'STATE', ...state },
      ...(expectedLastSeq === undefined
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : {
            ConditionExpression: 'lastSeq = :expected AND attribute_not_exists(decommissionedAt)',
            ExpressionAttributeValues: { ':expected': expectedLastSeq },
          }),
    }),
  );
}

export async function getTarget(deviceId: string): Promise<TargetStateDocument | undefined> {
  const res = await documentClient().send(
    new GetCommand({ TableName: config.fleetTable, Key: { pk: devicePk(deviceId), sk: 'TARGET' } }),
  );
  return strip<TargetStateDocument>(res.Item);
}

/**
 * Store a target. With `expectedVersion` the write holds only if the stored target is still that version (null:
 * only if there is none), so two operators' read-modify-write cycles cannot overwrite each other; false when
 * it no longer holds.
 */
export function putTarget(
  deviceId: string,
  doc: TargetStateDocument,
  expectedVersion?: string | null,
): Promise<boolean> {
  return writeIf(
    new PutCommand({
      TableName: config.fleetTable,
      Item: { pk: devicePk(deviceId), sk: 'TARGET', ...doc },
      ...(expectedVersion === undefined
        ? {}
        : expectedVersion === null
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : {
              ConditionExpression: 'version = :expected',
              ExpressionAttributeValues: { ':expected': expectedVersion },
            }),
    }),
  );
}

export interface DevicePage {
  metas: DeviceMeta[];
  nextToken?: string;
  /** META items of this page that could not be read (those devices are left out). */
  unreadable: UnreadableItem[];
}

const nameDeviceItem = (raw: RawItem) => ({
  id: rawString(raw, 'pk').replace(/^DEVICE#/, ''),
  item: rawString(raw, 'sk'),
});

/**
 * One page of devices from the `devices` GSI, ordered by device key. Items are read one by one (raw client):
 * a device stored in a shape that cannot be read is left out and named in `unreadable`, not a 500 for all.
 */
export async function listDeviceMetas(limit: number, nextToken?: string): Promise<DevicePage> {
  const res = await dynamo().send(
    new RawQueryCommand({
      TableName: config.fleetTable,
      IndexName: 'devices',
      KeyConditionExpression: 'entity = :e',
      ExpressionAttributeValues: { ':e': { S: 'device' } },
      Limit: limit,
      ExclusiveStartKey: nextToken ? marshall(decodePageToken(nextToken)) : undefined,
    }),
  );
  const { items, unreadable } = readItems<Record<string, unknown>>('devices', res.Items ?? [], nameDeviceItem);
  const page: DevicePage = { metas: items.map((i) => strip<DeviceMeta>(i)!), unreadable };
  if (res.LastEvaluatedKey) {
    const key = res.LastEvaluatedKey;
    page.nextToken = encodePageToken({
      entity: rawString(key, 'entity'),
      pk: rawString(key, 'pk'),
      sk: rawString(key, 'sk'),
    });
  }
  return page;
}

/**
 * BatchGet of given sort keys for many devices (e.g. STATE + CIRCUIT for a listing page), unprocessed keys
 * retried. An item that cannot be read is left out (as if absent) and named in `unreadable`.
 */
export async function batchGetDeviceItems(
  deviceIds: string[],
  sortKeys: string[],
): Promise<Map<string, Map<string, Record<string, unknown>>> & { unreadable: UnreadableItem[] }> {
  const out = Object.assign(
    new Map<string, Map<string, Record<string, unknown>>>(deviceIds.map((id) => [id, new Map()])),
    { unreadable: [] as UnreadableItem[] },
  );
  const keys = deviceIds.flatMap((id) => sortKeys.map((sk) => ({ pk: { S: devicePk(id) }, sk: { S: sk } })));
  for (let i = 0; i < keys.length; i += 100) {
    let pending: RawItem[] | undefined = keys.slice(i, i + 100);
    for (let attempt = 0; pending && pending.length > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt)));
      if (attempt > 8) throw new Error('BatchGetItem: keys still unprocessed after retries');
      const res: BatchGetItemCommandOutput = await dynamo().send(
        new BatchGetItemCommand({ RequestItems: { [config.fleetTable]: { Keys: pending } } }),
      );
      const { items, unreadable } = readItems<Record<string, unknown>>(
        'device-items',
        res.Responses?.[config.fleetTable] ?? [],
        nameDeviceItem,
      );
      out.unreadable.push(...unreadable);
      for (const item of items) {
        const deviceId = (item.pk as string).slice('DEVICE#'.length);
        out.get(deviceId)?.set(item.sk as string, item);
      }
      pending = res.UnprocessedKeys?.[config.fleetTable]?.Keys;
    }
  }
  return out;
}

export class BadPageTokenError extends Error {}

function encodePageToken(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}
function decodePageToken(token: string): Record<string, unknown> {
  try {
    const key = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (
      key &&
      typeof key === 'object' &&
      !Array.isArray(key) &&
      Object.values(key).every((v) => typeof v === 'string')
    ) {
      const k = key as Record<string, string>;
      // Only our own key shape: a forged token must not steer the query elsewhere.
      if (k.entity === 'device' && k.pk?.startsWith('DEVICE#') && k.sk === 'META' && Object.keys(k).length === 3)
        return k;
    }
  } catch {
    /* fall through */
  }
  throw new BadPageTokenError('nextToken is not a token this API issued');
}

/**
 * Show a device as offline in its state (health `offline`) and enter it in the sparse `byOffline` index. The
 * evaluator calls this after it claimed the device's liveness item (adapters/liveness-repo.ts), which is where
 * the race with a report arriving is decided. False when the device has no state at all.
 */
export async function markStateOffline(deviceId: string, now: number, silenced = false): Promise<boolean> {
  return await updateIf({
    TableName: config.fleetTable,
    Key: { pk: devicePk(deviceId), sk: 'STATE' },
    UpdateExpression: 'SET health = :offline, offlineAt = :at, offlineShard = :oshard REMOVE livenessShard',
    // Never a decommissioned device (a report from a still-warm credentials cache may have revived its liveness).
    ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(decommissionedAt)',
    ExpressionAttributeValues: {
      ':offline': 'offline',
      ':at': new Date(now).toISOString(),
      // A silenced device goes offline without counting in devices_offline (see silencedOfflineShard).
      ':oshard': silenced ? silencedOfflineShard(deviceId) : offlineShard(deviceId),
    },
  });
}

/**
 * Move an offline device between counted (`off#`) and silenced (`offsil#`) offline, only if it is offline the other
 * way now (false otherwise: online, decommissioned, or already there). One conditional update.
 */
export async function setOfflineSilenced(deviceId: string, silenced: boolean): Promise<boolean> {
  const [from, to] = silenced
    ? [offlineShard(deviceId), silencedOfflineShard(deviceId)]
    : [silencedOfflineShard(deviceId), offlineShard(deviceId)];
  return await updateIf({
    TableName: config.fleetTable,
    Key: { pk: devicePk(deviceId), sk: 'STATE' },
    UpdateExpression: 'SET offlineShard = :to',
    ConditionExpression: 'offlineShard = :from',
    ExpressionAttributeValues: { ':from': from, ':to': to },
  });
}

/** Devices offline under a silencing marker (keys only, ~100 bytes each): the evaluator re-checks their markers. */
export async function listSilencedOfflineDevices(limitPerShard = 1000): Promise<string[]> {
  const items = await queryShards(
    allShards('offsil', OFFLINE_SHARDS),
    (shard) => ({
      TableName: config.fleetTable,
      IndexName: 'byOffline',
      KeyConditionExpression: 'offlineShard = :s',
      ExpressionAttributeValues: { ':s': shard },
    }),
    limitPerShard,
  );
  return items.map((i) => String(i.pk).slice('DEVICE#'.length));
}

/**
 * How many devices are offline right now: a COUNT over each counted (`off#`) shard of the sparse, keys-only
 * `byOffline` index (devices enter it when marked offline and leave it with their next report). Devices silenced by
 * a device-wide marker are not counted: they sit under the `offsil#` shards. Reads ~100 bytes per offline
 * device, nothing for online ones.
 */
export function countOfflineDevices(): Promise<number> {
  return countShards(allShards('off', OFFLINE_SHARDS), (shard) => ({
    TableName: config.fleetTable,
    IndexName: 'byOffline',
    KeyConditionExpression: 'offlineShard = :s',
    ExpressionAttributeValues: { ':s': shard },
  }));
}

/**
 * The ids of devices in service whose labels hold every pair of `selector`, in device-id order, at most `max`
 * (undefined `truncated` = all found). Pages the `devices` GSI with a filter: a Query over the device listing
 * (reads every META once, ~0.5 KB each), run once when a rollout is created, never per controller run.
 */
export async function findDeviceIdsByLabels(
  selector: Readonly<Record<string, string>>,
  max: number,
): Promise<{ deviceIds: string[]; truncated: boolean }> {
  const names: Record<string, string> = { '#labels': 'labels' };
  const values: Record<string, unknown> = { ':e': 'device' };
  const conditions = Object.entries(selector).map(([k, v], i) => {
    names[`#k${i}`] = k;
    values[`:v${i}`] = v;
    return `#labels.#k${i} = :v${i}`;
  });
  const deviceIds: string[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const res = await documentClient().send(
      new QueryCommand({
        TableName: config.fleetTable,
        IndexName: 'devices',
        KeyConditionExpression: 'entity = :e',
        FilterExpression: conditions.join(' AND '),
        ProjectionExpression: 'pk',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of res.Items ?? []) {
      if (deviceIds.length === max) return { deviceIds, truncated: true };
      deviceIds.push(String(item.pk).slice('DEVICE#'.length));
    }
    startKey = res.LastEvaluatedKey;
  } while (startKey);
  return { deviceIds, truncated: false };
}

/** Which of `deviceIds` are devices in service (BatchGet of their META, ~100 ids a call). */
export async function devicesInService(deviceIds: string[]): Promise<Set<string>> {
  const items = await batchGetDeviceItems(deviceIds, ['META']);
  return new Set(
    deviceIds.filter((id) => {
      const meta = items.get(id)?.get('META');
      return meta && !meta.decommissionedAt;
    }),
  );
}
