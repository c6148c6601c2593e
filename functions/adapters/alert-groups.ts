/**
 * Alert group windows in ALERTS_TABLE (Alertmanager's group_wait): the reads and conditional writes of the open
 * windows members join, the queued messages of flushed windows, and the flushed windows counting their members
 * down. When a window is announced, dropped or resolved is decided in services/alert-groups.ts with the pure
 * functions of domain/alerting/groups.ts.
 *
 * ALERTS_TABLE items (TTL `expiresAt`, epoch s):
 *   GROUPS                     / OPEN#<groupKey>          the open group window members join (one per group key)
 *   GROUPS                     / OUTBOX#<groupKey>#<win>  a flushed window's message, until SNS accepted it
 *   GROUP#<groupKey>#<win>     / WINDOW                   a flushed window, counting its members down to "resolved"
 * All group bookkeeping sits in the small `GROUPS` partition, so the evaluator finds due windows with one Query.
 */
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { AlertPolicyConfig } from '../domain/alerting/dedupe.js';
import type { AlertEvent } from '../domain/alerting/event.js';
import type { GroupFirstMember, GroupWindow } from '../domain/alerting/groups.js';
import { documentClient } from '../lib/aws.js';
import { config } from '../lib/config.js';
import { timeOrderedId } from '../lib/ids.js';
import { isConditionFailure, writeIf } from './common/conditions.js';

const GROUPS_PK = 'GROUPS';
const WINDOW_RETENTION_S = 7 * 86400;

const openKey = (groupKey: string) => ({ pk: GROUPS_PK, sk: `OPEN#${groupKey}` });
const outboxKey = (groupKey: string, windowId: string) => ({ pk: GROUPS_PK, sk: `OUTBOX#${groupKey}#${windowId}` });
const windowKey = (groupKey: string, windowId: string) => ({ pk: `GROUP#${groupKey}#${windowId}`, sk: 'WINDOW' });

/** A flushed window's message, queued until SNS accepted it. `event` is the AlertEvent as JSON text. */
export interface OutboxEntry {
  groupKey: string;
  windowId: string;
  event: string;
}

/** A flushed window as stored: its members at flush time, and how many of them still fire. */
export interface FlushedWindow {
  window: GroupWindow;
  openCount: number;
  notified?: boolean;
  resolvedNotified?: boolean;
}

/**
 * Add one member to the open window of its group (creating it); returns the window id. A cause group's window
 * keeps its first member's input too: a window that holds only that member is announced as its own alert.
 * ALL_NEW, not UPDATED_NEW: an `if_not_exists` that kept the value is not reported as updated by every emulator.
 */
export async function joinGroup(
  groupKey: string,
  input: GroupFirstMember,
  now: number,
  policy: AlertPolicyConfig,
): Promise<string> {
  const member: Record<string, string> = { since: new Date(input.since).toISOString() };
  if (input.deviceId) member.deviceId = input.deviceId;
  if (input.service) member.service = input.service;
  const values: Record<string, unknown> = {
    ':wid': timeOrderedId(now),
    ':name': input.alertName,
    ':now': now,
    ':flushAt': now + policy.groupWaitMs,
    ':one': 1,
    ':level': input.level,
    ...(input.cause ? { ':cause': input.cause, ':first': input } : {}),
  };
  // The highest member level wins; DynamoDB has no max(), but levels are only 2 and 3.
  const level = input.level === 3 ? 'maxLevel = :level' : 'maxLevel = if_not_exists(maxLevel, :level)';
  const causeSet = input.cause
    ? ', #cause = if_not_exists(#cause, :cause), #first = if_not_exists(#first, :first)'
    : '';
  const set = `windowId = if_not_exists(windowId, :wid), alertName = if_not_exists(alertName, :name), openedAt = if_not_exists(openedAt, :now), flushAt = if_not_exists(flushAt, :flushAt), lastAt = :now, ${level}${causeSet}`;
  const add = 'ADD memberCount :one, openCount :one, version :one';
  const causeName: Record<string, string> = input.cause ? { '#cause': 'cause', '#first': 'first' } : {};
  try {
    // The sample is bounded: members beyond it are only counted.
    const res = await documentClient().send(
      new UpdateCommand({
        TableName: config.alertsTable,
        Key: openKey(groupKey),
        UpdateExpression: `SET ${set}, #sample = list_append(if_not_exists(#sample, :empty), :member) ${add}`,
        ConditionExpression: 'attribute_not_exists(#sample) OR size(#sample) < :max',
        ExpressionAttributeNames: { '#sample': 'sample', ...causeName },
        ExpressionAttributeValues: { ...values, ':empty': [], ':member': [member], ':max': policy.groupSampleSize },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return windowIdOf(res.Attributes);
  } catch (err) {
    if (!isConditionFailure(err)) throw err;
  }
  const res = await documentClient().send(
    new UpdateCommand({
      TableName: config.alertsTable,
      Key: openKey(groupKey),
      UpdateExpression: `SET ${set} ${add}`,
      ...(input.cause ? { ExpressionAttributeNames: causeName } : {}),
      ExpressionAttributeValues: values,
      ReturnValues: 'ALL_NEW',
    }),
  );
  return windowIdOf(res.Attributes);
}

function windowIdOf(item: Record<string, unknown> | undefined): string {
  const id = item?.windowId;
  if (typeof id !== 'string' || !id) throw new Error('group window update returned no windowId');
  return id;
}

/**
 * Count one recovered member down in its group's open window, if that window is still open and is the member's
 * (any open window when the member's window id is unknown). False when there is no such open window.
 */
export function countDownOpenWindow(group: { key: string; windowId: string }): Promise<boolean> {
  return addToOpenCount(group, -1);
}

/**
 * Count a member that re-fired (a flap) back into its group's open window, if that window is still open and is the
 * member's. False when there is no such open window (it was announced or dropped meanwhile).
 */
export function countUpOpenWindow(group: { key: string; windowId: string }): Promise<boolean> {
  return addToOpenCount(group, 1);
}

/** Move the open-member count of a group's open window by `delta`, if that window is (still) the member's. */
function addToOpenCount(group: { key: string; windowId: string }, delta: 1 | -1): Promise<boolean> {
  return writeIf(
    new UpdateCommand({
      TableName: config.alertsTable,
      Key: openKey(group.key),
      UpdateExpression: 'ADD openCount :delta, version :one',
      ConditionExpression: group.windowId ? 'windowId = :w' : 'attribute_exists(windowId)',
      ExpressionAttributeValues: { ':delta': delta, ':one': 1, ...(group.windowId ? { ':w': group.windowId } : {}) },
    }),
  );
}

/** Count one recovered member down in a flushed window; undefined when the window is gone (dropped or expired). */
export async function countDownFlushedWindow(groupKey: string, windowId: string): Promise<FlushedWindow | undefined> {
  try {
    const res = await documentClient().send(
      new UpdateCommand({
        TableName: config.alertsTable,
        Key: windowKey(groupKey, windowId),
        UpdateExpression: 'ADD openCount :minus',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':minus': -1 },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return res.Attributes as FlushedWindow | undefined;
  } catch (err) {
    if (isConditionFailure(err)) return undefined;
    throw err;
  }
}

/** Claim the right to announce a flushed window as resolved: false when someone else already claimed it. */
export function claimGroupResolved(groupKey: string, windowId: string): Promise<boolean> {
  return writeIf(
    new UpdateCommand({
      TableName: config.alertsTable,
      Key: windowKey(groupKey, windowId),
      UpdateExpression: 'SET resolvedNotified = :t',
      ConditionExpression: 'attribute_not_exists(resolvedNotified)',
      ExpressionAttributeValues: { ':t': true },
    }),
  );
}

function toWindow(groupKey: string, item: Record<string, unknown>): GroupWindow {
  return {
    groupKey,
    windowId: String(item.windowId),
    alertName: item.alertName as GroupWindow['alertName'],
    openedAt: Number(item.openedAt),
    flushAt: Number(item.flushAt),
    lastAt: Number(item.lastAt),
    memberCount: Number(item.memberCount ?? 0),
    openCount: Number(item.openCount ?? 0),
    maxLevel: Number(item.maxLevel) === 3 ? 3 : 2,
    sample: (item.sample as GroupWindow['sample']) ?? [],
    version: Number(item.version ?? 0),
    ...(item.cause ? { cause: String(item.cause) } : {}),
    ...(item.first ? { first: item.first as GroupFirstMember } : {}),
  };
}

function toOutboxEntry(item: Record<string, unknown>): OutboxEntry {
  return { groupKey: String(item.groupKey), windowId: String(item.windowId), event: String(item.event) };
}

/** Every open window and every queued message, in one paged Query of the `GROUPS` partition. */
export async function listGroupBookkeeping(): Promise<{ outbox: OutboxEntry[]; open: GroupWindow[] }> {
  const out = { outbox: [] as OutboxEntry[], open: [] as GroupWindow[] };
  let startKey: Record<string, unknown> | undefined;
  do {
    const res = await documentClient().send(
      new QueryCommand({
        TableName: config.alertsTable,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': GROUPS_PK },
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of res.Items ?? []) {
      const sk = String(item.sk);
      if (sk.startsWith('OUTBOX#')) out.outbox.push(toOutboxEntry(item));
      else if (sk.startsWith('OPEN#')) out.open.push(toWindow(sk.slice('OPEN#'.length), item));
    }
    startKey = res.LastEvaluatedKey;
  } while (startKey);
  return out;
}

export async function getOpenWindow(groupKey: string): Promise<GroupWindow | undefined> {
  const res = await documentClient().send(
    new GetCommand({ TableName: config.alertsTable, Key: openKey(groupKey), ConsistentRead: true }),
  );
  return res.Item ? toWindow(groupKey, res.Item) : undefined;
}

/** Delete the open window if still at `version` (false: a member joined or resolved meanwhile). */
function deleteOpenWindow(groupKey: string, version: number): Promise<boolean> {
  return writeIf(
    new DeleteCommand({
      TableName: config.alertsTable,
      Key: openKey(groupKey),
      ConditionExpression: 'version = :v',
      ExpressionAttributeValues: { ':v': version },
    }),
  );
}

/**
 * Drop a window nobody needs to hear about, if it is still at the version read (false otherwise). An earlier
 * flush may have queued its message before it lost its race: that is taken back too.
 */
export async function dropWindow(w: GroupWindow): Promise<boolean> {
  if (!(await deleteOpenWindow(w.groupKey, w.version))) return false;
  await documentClient().send(
    new DeleteCommand({ TableName: config.alertsTable, Key: outboxKey(w.groupKey, w.windowId) }),
  );
  await documentClient().send(
    new DeleteCommand({ TableName: config.alertsTable, Key: windowKey(w.groupKey, w.windowId) }),
  );
  return true;
}

/**
 * Queue a window's message and start its resolution counter, then close the window if it is still at the version
 * rendered (false otherwise). The first two are idempotent (keyed by window id: a retry overwrites them with the
 * newer content). Not one transaction on purpose: moto (tests, the local fleet) rolls a cancelled transaction back
 * by restoring a whole-table snapshot, undoing other writers' updates. A queued message is only published once its
 * window is closed (services/alert-groups.ts), so a crash between queueing and closing cannot send it twice.
 */
export async function queueAndCloseWindow(w: GroupWindow, event: AlertEvent, now: number): Promise<boolean> {
  const expiresAt = Math.floor(now / 1000) + WINDOW_RETENTION_S;
  await documentClient().send(
    new PutCommand({
      TableName: config.alertsTable,
      Item: {
        ...outboxKey(w.groupKey, w.windowId),
        groupKey: w.groupKey,
        windowId: w.windowId,
        event: JSON.stringify(event),
        expiresAt,
      },
    }),
  );
  await documentClient().send(
    new PutCommand({
      TableName: config.alertsTable,
      Item: { ...windowKey(w.groupKey, w.windowId), window: w, openCount: w.openCount, notified: false, expiresAt },
    }),
  );
  return deleteOpenWindow(w.groupKey, w.version);
}

export async function getOutboxEntry(groupKey: string, windowId: string): Promise<OutboxEntry | undefined> {
  const res = await documentClient().send(
    new GetCommand({ TableName: config.alertsTable, Key: outboxKey(groupKey, windowId), ConsistentRead: true }),
  );
  return res.Item ? toOutboxEntry(res.Item) : undefined;
}

/** Lease a queued message until `claimUntil` so two flushers do not both send it; false when taken or gone. */
export function claimOutboxEntry(e: OutboxEntry, now: number, claimUntil: number): Promise<boolean> {
  return writeIf(
    new UpdateCommand({
      TableName: config.alertsTable,
      Key: outboxKey(e.groupKey, e.windowId),
      UpdateExpression: 'SET claimUntil = :until',
      ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(claimUntil) OR claimUntil < :now)',
      ExpressionAttributeValues: { ':until': claimUntil, ':now': now },
    }),
  );
}

/** SNS accepted a queued message: take it off the queue and mark its window announced; returns the window. */
export async function outboxEntrySent(e: OutboxEntry): Promise<FlushedWindow | undefined> {
  await documentClient().send(
    new DeleteCommand({ TableName: config.alertsTable, Key: outboxKey(e.groupKey, e.windowId) }),
  );
  const res = await documentClient().send(
    new UpdateCommand({
      TableName: config.alertsTable,
      Key: windowKey(e.groupKey, e.windowId),
      UpdateExpression: 'SET notified = :t',
      ExpressionAttributeValues: { ':t': true },
      ReturnValues: 'ALL_NEW',
    }),
  );
  return res.Attributes as FlushedWindow | undefined;
}
