/**
 * Alert group windows in ALERTS_TABLE (Alertmanager's group_wait): members join the open window of their group;
 * the evaluator's flush announces a window once its wait has passed, and the last member to recover announces
 * the group as resolved. Decisions are the pure functions of domain/alerting/groups.ts; this file only reads,
 * writes conditionally, publishes.
 *
 * ALERTS_TABLE items (TTL `expiresAt`, epoch s):
 *   GROUPS                     / OPEN#<groupKey>          the open group window members join (one per group key)
 *   GROUPS                     / OUTBOX#<groupKey>#<win>  a flushed window's message, until SNS accepted it
 *   GROUP#<groupKey>#<win>     / WINDOW                   a flushed window, counting its members down to "resolved"
 * All group bookkeeping sits in the small `GROUPS` partition, so the evaluator finds due windows with one Query.
 */
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_ALERT_POLICY, type AlertPolicyConfig } from '../domain/alerting/dedupe.js';
import { AlertEvent, type AlertInput } from '../domain/alerting/event.js';
import { decideFlush, groupResolvedEvent, groupedEvent, type GroupWindow } from '../domain/alerting/groups.js';
import { documentClient } from '../lib/aws.js';
import { config } from '../lib/config.js';
import { timeOrderedId } from '../lib/ids.js';
import { logger } from '../lib/observability.js';
import { publishAlertEvent, recordAlertEvent } from './alert-publication.js';
import { isConditionFailure, raceBackoff } from './common/conditions.js';

/** How often a conditional write may lose a race before giving up. */
export const MAX_RACES = 50;
const GROUPS_PK = 'GROUPS';
const WINDOW_RETENTION_S = 7 * 86400;
/** A flusher that died mid-publish releases its claim on an outbox entry after this long. */
const OUTBOX_CLAIM_MS = 60_000;

/** The alert policy with this deployment's cooldown and group wait. */
export function alertPolicy(): AlertPolicyConfig {
  return {
    ...DEFAULT_ALERT_POLICY,
    cooldownMs: config.alertCooldownSeconds * 1000,
    groupWaitMs: config.alertGroupWaitSeconds * 1000,
  };
}

export interface AlertOptions {
  now?: number;
  policy?: AlertPolicyConfig;
}

const openKey = (groupKey: string) => ({ pk: GROUPS_PK, sk: `OPEN#${groupKey}` });
const outboxKey = (groupKey: string, windowId: string) => ({ pk: GROUPS_PK, sk: `OUTBOX#${groupKey}#${windowId}` });
const windowKey = (groupKey: string, windowId: string) => ({ pk: `GROUP#${groupKey}#${windowId}`, sk: 'WINDOW' });

/**
 * Add one member to the open window of its group (creating it); returns the window id.
 * ALL_NEW, not UPDATED_NEW: an `if_not_exists` that kept the value is not reported as updated by every emulator.
 */
export async function joinGroup(
  groupKey: string,
  input: AlertInput,
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
  };
  // The highest member level wins; DynamoDB has no max(), but levels are only 2 and 3.
  const level = input.level === 3 ? 'maxLevel = :level' : 'maxLevel = if_not_exists(maxLevel, :level)';
  const set = `windowId = if_not_exists(windowId, :wid), alertName = if_not_exists(alertName, :name), openedAt = if_not_exists(openedAt, :now), flushAt = if_not_exists(flushAt, :flushAt), lastAt = :now, ${level}`;
  const add = 'ADD memberCount :one, openCount :one, version :one';
  try {
    // The sample is bounded: members beyond it are only counted.
    const res = await documentClient().send(
      new UpdateCommand({
        TableName: config.alertsTable,
        Key: openKey(groupKey),
        UpdateExpression: `SET ${set}, #sample = list_append(if_not_exists(#sample, :empty), :member) ${add}`,
        ConditionExpression: 'attribute_not_exists(#sample) OR size(#sample) < :max',
        ExpressionAttributeNames: { '#sample': 'sample' },
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

/** A grouped member recovered: count its window down; the last one out announces the group as resolved. */
export async function memberResolved(
  group: { key: string; windowId: string },
  now: number,
  policy: AlertPolicyConfig,
): Promise<void> {
  // Still collecting? Count down the open window (only if it is the member's window, or the id is unknown).
  try {
    await documentClient().send(
      new UpdateCommand({
        TableName: config.alertsTable,
        Key: openKey(group.key),
        UpdateExpression: 'ADD openCount :minus, version :one',
        ConditionExpression: group.windowId ? 'windowId = :w' : 'attribute_exists(windowId)',
        ExpressionAttributeValues: { ':minus': -1, ':one': 1, ...(group.windowId ? { ':w': group.windowId } : {}) },
      }),
    );
    return;
  } catch (err) {
    if (!isConditionFailure(err)) throw err;
  }
  if (!group.windowId) return;
  try {
    const res = await documentClient().send(
      new UpdateCommand({
        TableName: config.alertsTable,
        Key: windowKey(group.key, group.windowId),
        UpdateExpression: 'ADD openCount :minus',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':minus': -1 },
        ReturnValues: 'ALL_NEW',
      }),
    );
    await maybeAnnounceGroupResolved(res.Attributes, now, policy);
  } catch (err) {
    // The window was dropped (everyone recovered before it was announced) or expired: nothing to tell.
    if (!isConditionFailure(err)) throw err;
  }
}

interface WindowItem {
  window: GroupWindow;
  openCount: number;
  notified?: boolean;
  resolvedNotified?: boolean;
}

async function maybeAnnounceGroupResolved(
  item: Record<string, unknown> | undefined,
  now: number,
  _policy: AlertPolicyConfig,
): Promise<void> {
  const w = item as unknown as WindowItem | undefined;
  if (!w?.notified || w.resolvedNotified || Number(w.openCount) > 0) return;
  try {
    await documentClient().send(
      new UpdateCommand({
        TableName: config.alertsTable,
        Key: windowKey(w.window.groupKey, w.window.windowId),
        UpdateExpression: 'SET resolvedNotified = :t',
        ConditionExpression: 'attribute_not_exists(resolvedNotified)',
        ExpressionAttributeValues: { ':t': true },
      }),
    );
  } catch (err) {
    if (isConditionFailure(err)) return; // someone else announces it
    throw err;
  }
  await publishAlertEvent(groupResolvedEvent({ ...w.window, openCount: 0 }, { now }));
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
  };
}

export interface FlushResult {
  published: string[];
  dropped: string[];
  waiting: string[];
}

/**
 * Announce every group window whose group_wait has passed (one message per window), and retry announcements
 * whose publication failed earlier. Called by the scheduled evaluator every minute (and by tests).
 */
export async function flushAlertGroups(opts: AlertOptions = {}): Promise<FlushResult> {
  const policy = opts.policy ?? alertPolicy();
  const now = opts.now ?? Date.now();
  const out: FlushResult = { published: [], dropped: [], waiting: [] };
  const items: Record<string, unknown>[] = [];
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
    items.push(...(res.Items ?? []));
    startKey = res.LastEvaluatedKey;
  } while (startKey);

  for (const item of items) {
    const sk = String(item.sk);
    if (sk.startsWith('OUTBOX#')) {
      if (await publishOutboxEntry(item, now)) out.published.push(sk);
    }
  }
  for (const item of items) {
    const sk = String(item.sk);
    if (!sk.startsWith('OPEN#')) continue;
    const groupKey = sk.slice('OPEN#'.length);
    const result = await flushWindow(groupKey, item, now, policy);
    out[result].push(groupKey);
  }
  return out;
}

async function flushWindow(
  groupKey: string,
  first: Record<string, unknown>,
  now: number,
  policy: AlertPolicyConfig,
): Promise<'published' | 'dropped' | 'waiting'> {
  let item: Record<string, unknown> | undefined = first;
  for (let attempt = 0; attempt < MAX_RACES && item; attempt++) {
    const w = toWindow(groupKey, item);
    const decision = decideFlush(w, now);
    if (decision.action === 'wait') return 'waiting';
    try {
      if (decision.action === 'drop') {
        await documentClient().send(
          new DeleteCommand({
            TableName: config.alertsTable,
            Key: openKey(groupKey),
            ConditionExpression: 'version = :v',
            ExpressionAttributeValues: { ':v': w.version },
          }),
        );
        // An earlier attempt may have queued this window's message before it lost its race: take that back too.
        await documentClient().send(
          new DeleteCommand({ TableName: config.alertsTable, Key: outboxKey(groupKey, w.windowId) }),
        );
        await documentClient().send(
          new DeleteCommand({ TableName: config.alertsTable, Key: windowKey(groupKey, w.windowId) }),
        );
        logger.info('alert group dropped', {
          groupKey,
          windowId: w.windowId,
          reason: decision.reason,
          members: w.memberCount,
        });
        return 'dropped';
      }
      const event = groupedEvent(w, { now }, policy);
      const expiresAt = Math.floor(now / 1000) + WINDOW_RETENTION_S;
      // 1. Queue the window's message and start its resolution counter (idempotent: keyed by window id, a retry
      //    overwrites them with the newer content). 2. Close the window, conditional on the version we rendered.
      // Not one transaction on purpose: moto (tests, the local fleet) rolls a cancelled transaction back by
      // restoring a whole-table snapshot, undoing other writers' updates. The outbox entry is only published once
      // the window is closed (see publishOutboxEntry), so a crash between 1 and 2 cannot send it twice.
      await documentClient().send(
        new PutCommand({
          TableName: config.alertsTable,
          Item: {
            ...outboxKey(groupKey, w.windowId),
            groupKey,
            windowId: w.windowId,
            event: JSON.stringify(event),
            expiresAt,
          },
        }),
      );
      await documentClient().send(
        new PutCommand({
          TableName: config.alertsTable,
          Item: { ...windowKey(groupKey, w.windowId), window: w, openCount: w.openCount, notified: false, expiresAt },
        }),
      );
      await documentClient().send(
        new DeleteCommand({
          TableName: config.alertsTable,
          Key: openKey(groupKey),
          ConditionExpression: 'version = :v',
          ExpressionAttributeValues: { ':v': w.version },
        }),
      );
      const outbox = await documentClient().send(
        new GetCommand({ TableName: config.alertsTable, Key: outboxKey(groupKey, w.windowId), ConsistentRead: true }),
      );
      await publishOutboxEntry(outbox.Item, now);
      return 'published';
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      // A member joined or resolved meanwhile: re-read and render again with it included (same window id).
      const res = await documentClient().send(
        new GetCommand({ TableName: config.alertsTable, Key: openKey(groupKey), ConsistentRead: true }),
      );
      item = res.Item;
      await raceBackoff(attempt);
    }
  }
  return 'waiting';
}

/** Publish a queued group message (claimed with a lease so two flushers do not both send it). */
async function publishOutboxEntry(item: Record<string, unknown> | undefined, now: number): Promise<boolean> {
  if (!item) return false;
  const groupKey = String(item.groupKey);
  const windowId = String(item.windowId);
  // Its window still open (a flusher died between queueing and closing): the window's own flush redoes both.
  const open = await documentClient().send(
    new GetCommand({ TableName: config.alertsTable, Key: openKey(groupKey), ConsistentRead: true }),
  );
  if (open.Item?.windowId === windowId) return false;
  try {
    await documentClient().send(
      new UpdateCommand({
        TableName: config.alertsTable,
        Key: outboxKey(groupKey, windowId),
        UpdateExpression: 'SET claimUntil = :until',
        ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(claimUntil) OR claimUntil < :now)',
        ExpressionAttributeValues: { ':until': now + OUTBOX_CLAIM_MS, ':now': now },
      }),
    );
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw err;
  }
  const event = AlertEvent.parse(JSON.parse(String(item.event)));
  const messageId = await publishAlertEvent(event);
  await documentClient().send(new DeleteCommand({ TableName: config.alertsTable, Key: outboxKey(groupKey, windowId) }));
  const res = await documentClient().send(
    new UpdateCommand({
      TableName: config.alertsTable,
      Key: windowKey(groupKey, windowId),
      UpdateExpression: 'SET notified = :t',
      ExpressionAttributeValues: { ':t': true },
      ReturnValues: 'ALL_NEW',
    }),
  );
  logger.info('alert group published', {
    groupKey,
    windowId,
    members: event.group?.count,
    severity: event.severity,
    messageId,
  });
  await recordAlertEvent(
    'alert.raised',
    { dedupeKey: event.dedupeKey, alertName: event.alertName, deviceId: event.deviceId, service: event.service },
    { grouped: groupKey, windowId, count: event.group?.count ?? 1, severity: event.severity },
    now,
  );
  // Everyone may have recovered while the message was on its way.
  await maybeAnnounceGroupResolved(res.Attributes, now, DEFAULT_ALERT_POLICY);
  return true;
}
