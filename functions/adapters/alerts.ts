/**
 * Alerts: dedupe/cooldown records and group windows in ALERTS_TABLE, publication to the SNS alert topic.
 * Decisions are the pure functions of domain/alert-policy; this file only reads, writes conditionally, publishes.
 *
 * ALERTS_TABLE items (TTL `expiresAt`, epoch s):
 *   ALERT#<dedupeKey>          / STATE                    one dedupe record per alert key (AlertRecord + version)
 *   GROUPS                     / OPEN#<groupKey>          the open group window members join (one per group key)
 *   GROUPS                     / OUTBOX#<groupKey>#<win>  a flushed window's message, until SNS accepted it
 *   GROUP#<groupKey>#<win>     / WINDOW                   a flushed window, counting its members down to "resolved"
 * All group bookkeeping sits in the small `GROUPS` partition, so the evaluator finds due windows with one Query.
 *
 * Every record write is conditional on the version read (optimistic concurrency): two Lambdas raising the same
 * key at once produce one notification and one suppression, never two notifications.
 */
import { PublishCommand, type MessageAttributeValue } from '@aws-sdk/client-sns';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  AlertEvent,
  DEFAULT_ALERT_POLICY,
  decideFlush,
  decideRaise,
  decideResolve,
  dedupeKeyFor,
  groupResolvedEvent,
  groupedEvent,
  plainTextAlert,
  resolvedEvent,
  severityForLevel,
  toAlertEvent,
  type AlertInput,
  type AlertPolicyConfig,
  type AlertRecord,
  type GroupWindow,
  type Severity,
} from '../domain/alert-policy.js';
import { documentClient, snsClient } from '../lib/aws.js';
import { config } from '../lib/config.js';
import { timeOrderedId } from '../lib/ids.js';
import { logger } from '../lib/observability.js';
import { isConditionFailure, raceBackoff } from './conditions.js';
import { recordEvent } from './events.js';

const MAX_RACES = 50;
const GROUPS_PK = 'GROUPS';
const WINDOW_RETENTION_S = 7 * 86400;
/** A flusher that died mid-publish releases its claim on an outbox entry after this long. */
const OUTBOX_CLAIM_MS = 60_000;

export function alertPolicy(): AlertPolicyConfig {
  return {
    ...DEFAULT_ALERT_POLICY,
    cooldownMs: config.alertCooldownSeconds * 1000,
    groupWaitMs: config.alertGroupWaitSeconds * 1000,
  };
}

const recordKey = (dedupeKey: string) => ({ pk: `ALERT#${dedupeKey}`, sk: 'STATE' });
const openKey = (groupKey: string) => ({ pk: GROUPS_PK, sk: `OPEN#${groupKey}` });
const outboxKey = (groupKey: string, windowId: string) => ({ pk: GROUPS_PK, sk: `OUTBOX#${groupKey}#${windowId}` });
const windowKey = (groupKey: string, windowId: string) => ({ pk: `GROUP#${groupKey}#${windowId}`, sk: 'WINDOW' });

export interface AlertOptions {
  now?: number;
  policy?: AlertPolicyConfig;
}

// ---------------------------------------------------------------- publication

/** SNS message attributes let subscriptions filter (e.g. an email subscription for CRITICAL only). */
function attributesOf(e: AlertEvent): Record<string, MessageAttributeValue> {
  const attrs: Record<string, MessageAttributeValue> = {
    severity: { DataType: 'String', StringValue: e.severity },
    status: { DataType: 'String', StringValue: e.status },
    alertName: { DataType: 'String', StringValue: e.alertName },
    dedupeKey: { DataType: 'String', StringValue: e.dedupeKey },
    level: { DataType: 'Number', StringValue: String(e.level) },
  };
  if (e.deviceId) attrs.deviceId = { DataType: 'String', StringValue: e.deviceId };
  if (e.correlationId) attrs.correlationId = { DataType: 'String', StringValue: e.correlationId };
  return attrs;
}

function subjectOf(e: AlertEvent): string {
  const what = e.group && e.group.count > 1 ? `x${e.group.count}` : [e.service, e.deviceId].filter(Boolean).join(' on ');
  const s = `[${e.status === 'resolved' ? 'RESOLVED' : e.severity}] ${e.alertName} ${what}`.trim();
  // SNS subjects: ASCII, no line breaks, < 100 characters.
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 99);
}

/**
 * Publish one alert event to the topic. The SQS (Slack) subscription receives the JSON event; email subscribers
 * receive readable text (MessageStructure=json picks per protocol).
 */
export async function publishAlertEvent(event: AlertEvent): Promise<string | undefined> {
  const e = AlertEvent.parse(event);
  const res = await snsClient().send(
    new PublishCommand({
      TopicArn: config.alertTopicArn,
      Subject: subjectOf(e),
      MessageStructure: 'json',
      Message: JSON.stringify({ default: JSON.stringify(e), email: plainTextAlert(e, { runbookBaseUrl: config.runbookBaseUrl }) }),
      MessageAttributes: attributesOf(e),
    }),
  );
  return res.MessageId;
}

async function recordAlertEvent(type: 'alert.raised' | 'alert.suppressed' | 'alert.resolved', r: Pick<AlertRecord, 'dedupeKey' | 'alertName' | 'deviceId' | 'service'>, detail: Record<string, unknown>, now: number, correlationId?: string) {
  try {
    await recordEvent({ type, deviceId: r.deviceId, service: r.service, correlationId, detail: { dedupeKey: r.dedupeKey, alertName: r.alertName, ...detail } }, now);
  } catch (err) {
    // The event is for the operator's history; the alert itself already went out (or was suppressed) correctly.
    logger.warn('could not record alert event', { type, dedupeKey: r.dedupeKey, error: (err as Error).message });
  }
}

// ---------------------------------------------------------------- dedupe records

async function readRecord(dedupeKey: string): Promise<AlertRecord | undefined> {
  const res = await documentClient().send(new GetCommand({ TableName: config.alertsTable, Key: recordKey(dedupeKey), ConsistentRead: true }));
  if (!res.Item) return undefined;
  const { pk: _pk, sk: _sk, expiresAt: _e, ...rest } = res.Item;
  return rest as AlertRecord;
}

export const getAlertRecord = readRecord;

/** Write `next` only if the stored version is still `prevVersion` (0: no record yet). */
async function writeRecord(next: AlertRecord, prevVersion: number, now: number, policy: AlertPolicyConfig): Promise<boolean> {
  const expiresAt = Math.floor((Math.max(now, next.cooldownUntil) + policy.recordRetentionMs) / 1000);
  try {
    await documentClient().send(
      new PutCommand({
        TableName: config.alertsTable,
        Item: { ...recordKey(next.dedupeKey), ...next, expiresAt },
        ConditionExpression: prevVersion === 0 ? 'attribute_not_exists(pk)' : 'version = :v',
        ...(prevVersion === 0 ? {} : { ExpressionAttributeValues: { ':v': prevVersion } }),
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw err;
  }
}

/** Undo a claimed notification whose publication failed, so the next raise tries again instead of being suppressed. */
async function restoreRecord(prev: AlertRecord | undefined, claimed: AlertRecord, now: number, policy: AlertPolicyConfig): Promise<void> {
  try {
    if (prev) {
      await writeRecord({ ...prev, version: claimed.version + 1 }, claimed.version, now, policy);
    } else {
      await documentClient().send(
        new DeleteCommand({ TableName: config.alertsTable, Key: recordKey(claimed.dedupeKey), ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': claimed.version } }),
      );
    }
  } catch (err) {
    logger.error('could not roll back alert record after a failed publish', { dedupeKey: claimed.dedupeKey, error: (err as Error).message });
  }
}

export type RaiseResult =
  | { action: 'notified'; dedupeKey: string; severity: Severity; notificationId: string; messageId?: string; repeat: boolean }
  | { action: 'grouped'; dedupeKey: string; groupKey: string; windowId: string }
  | { action: 'suppressed'; dedupeKey: string; reason: 'cooldown' | 'flapping'; suppressedCount: number };

/**
 * Raise an alert (level 2 or 3). Idempotent in effect: call it every time the condition is seen; the record
 * decides whether people hear about it now, later (group), or not again until the cooldown ends.
 */
export async function raiseAlert(input: AlertInput, opts: AlertOptions = {}): Promise<RaiseResult> {
  const policy = opts.policy ?? alertPolicy();
  const dedupeKey = input.dedupeKey ?? dedupeKeyFor(input);
  for (let attempt = 0; attempt < MAX_RACES; attempt++) {
    const now = opts.now ?? Date.now();
    const prev = await readRecord(dedupeKey);
    const decision = decideRaise(prev, { ...input, dedupeKey }, now, policy);
    const record = decision.action === 'group' ? { ...decision.record, group: { key: decision.groupKey, windowId: '' } } : decision.record;
    if (!(await writeRecord(record, prev?.version ?? 0, now, policy))) {
      await raceBackoff(attempt);
      continue;
    }
    if (decision.action === 'suppress') {
      // One history entry per burst, not one per report of a still-failing service.
      if (record.suppressedCount === 1 || decision.reason === 'flapping') {
        await recordAlertEvent('alert.suppressed', record, { reason: decision.reason, suppressedCount: record.suppressedCount }, now, input.correlationId);
      }
      return { action: 'suppressed', dedupeKey, reason: decision.reason, suppressedCount: record.suppressedCount };
    }
    if (decision.action === 'group') {
      const windowId = await joinGroup(decision.groupKey, input, now, policy);
      await setMemberWindow(dedupeKey, record.version, decision.groupKey, windowId);
      await recordAlertEvent('alert.raised', record, { grouped: decision.groupKey, windowId, severity: severityForLevel(input.level) }, now, input.correlationId);
      return { action: 'grouped', dedupeKey, groupKey: decision.groupKey, windowId };
    }
    const notificationId = `alert:${timeOrderedId(now)}`;
    const event = toAlertEvent({ ...input, dedupeKey }, { notificationId, now, suppressedCount: decision.suppressedCount, repeat: decision.repeat });
    let messageId: string | undefined;
    try {
      messageId = await publishAlertEvent(event);
    } catch (err) {
      await restoreRecord(prev, record, now, policy);
      throw err;
    }
    await recordAlertEvent('alert.raised', record, { severity: event.severity, level: event.level, notificationId, repeat: decision.repeat, escalated: decision.escalated }, now, input.correlationId);
    logger.info('alert published', { dedupeKey, severity: event.severity, alertName: event.alertName, repeat: decision.repeat, messageId, correlationId: input.correlationId });
    return { action: 'notified', dedupeKey, severity: event.severity, notificationId, messageId, repeat: decision.repeat };
  }
  throw new Error(`alert ${dedupeKey}: gave up after ${MAX_RACES} lost races`);
}

export type ResolveResult = { action: 'none' | 'silent' | 'resolved' | 'group-member'; dedupeKey: string; messageId?: string };

/** The condition behind `dedupeKey` cleared. Sends a resolved message only if people were told it was firing. */
export async function resolveAlert(dedupeKey: string, opts: AlertOptions & { correlationId?: string } = {}): Promise<ResolveResult> {
  const policy = opts.policy ?? alertPolicy();
  for (let attempt = 0; attempt < MAX_RACES; attempt++) {
    const now = opts.now ?? Date.now();
    const prev = await readRecord(dedupeKey);
    const decision = decideResolve(prev, now);
    if (decision.action === 'none') return { action: 'none', dedupeKey };
    if (!(await writeRecord(decision.record, prev!.version, now, policy))) {
      await raceBackoff(attempt);
      continue;
    }
    if (decision.action === 'silent') return { action: 'silent', dedupeKey };
    if (decision.action === 'group-member') {
      await memberResolved(decision.group, now, policy);
      await recordAlertEvent('alert.resolved', prev!, { grouped: decision.group.key }, now, opts.correlationId);
      return { action: 'group-member', dedupeKey };
    }
    const event = resolvedEvent(prev!, { notificationId: `resolved:${timeOrderedId(now)}`, now });
    let messageId: string | undefined;
    try {
      messageId = await publishAlertEvent(event);
    } catch (err) {
      // Put the firing record back so the next resolve announces it.
      await writeRecord({ ...prev!, version: decision.record.version + 1 }, decision.record.version, now, policy).catch(() => false);
      throw err;
    }
    await recordAlertEvent('alert.resolved', prev!, { firingForSeconds: Math.round(decision.firingForMs / 1000), flaps: decision.flaps }, now, opts.correlationId);
    return { action: 'resolved', dedupeKey, messageId };
  }
  throw new Error(`alert ${dedupeKey}: gave up after ${MAX_RACES} lost races`);
}

// ---------------------------------------------------------------- group windows (Alertmanager group_wait)

/**
 * Add one member to the open window of its group (creating it); returns the window id.
 * ALL_NEW, not UPDATED_NEW: an `if_not_exists` that kept the value is not reported as updated by every emulator.
 */
async function joinGroup(groupKey: string, input: AlertInput, now: number, policy: AlertPolicyConfig): Promise<string> {
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
    new UpdateCommand({ TableName: config.alertsTable, Key: openKey(groupKey), UpdateExpression: `SET ${set} ${add}`, ExpressionAttributeValues: values, ReturnValues: 'ALL_NEW' }),
  );
  return windowIdOf(res.Attributes);
}

function windowIdOf(item: Record<string, unknown> | undefined): string {
  const id = item?.windowId;
  if (typeof id !== 'string' || !id) throw new Error('group window update returned no windowId');
  return id;
}

async function setMemberWindow(dedupeKey: string, version: number, groupKey: string, windowId: string): Promise<void> {
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

/** A grouped member recovered: count its window down; the last one out announces the group as resolved. */
async function memberResolved(group: { key: string; windowId: string }, now: number, policy: AlertPolicyConfig): Promise<void> {
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

async function maybeAnnounceGroupResolved(item: Record<string, unknown> | undefined, now: number, _policy: AlertPolicyConfig): Promise<void> {
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
      new QueryCommand({ TableName: config.alertsTable, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': GROUPS_PK }, ConsistentRead: true, ExclusiveStartKey: startKey }),
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

async function flushWindow(groupKey: string, first: Record<string, unknown>, now: number, policy: AlertPolicyConfig): Promise<'published' | 'dropped' | 'waiting'> {
  let item: Record<string, unknown> | undefined = first;
  for (let attempt = 0; attempt < MAX_RACES && item; attempt++) {
    const w = toWindow(groupKey, item);
    const decision = decideFlush(w, now);
    if (decision.action === 'wait') return 'waiting';
    try {
      if (decision.action === 'drop') {
        await documentClient().send(
          new DeleteCommand({ TableName: config.alertsTable, Key: openKey(groupKey), ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': w.version } }),
        );
        // An earlier attempt may have queued this window's message before it lost its race: take that back too.
        await documentClient().send(new DeleteCommand({ TableName: config.alertsTable, Key: outboxKey(groupKey, w.windowId) }));
        await documentClient().send(new DeleteCommand({ TableName: config.alertsTable, Key: windowKey(groupKey, w.windowId) }));
        logger.info('alert group dropped', { groupKey, windowId: w.windowId, reason: decision.reason, members: w.memberCount });
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
        new PutCommand({ TableName: config.alertsTable, Item: { ...outboxKey(groupKey, w.windowId), groupKey, windowId: w.windowId, event: JSON.stringify(event), expiresAt } }),
      );
      await documentClient().send(
        new PutCommand({ TableName: config.alertsTable, Item: { ...windowKey(groupKey, w.windowId), window: w, openCount: w.openCount, notified: false, expiresAt } }),
      );
      await documentClient().send(
        new DeleteCommand({ TableName: config.alertsTable, Key: openKey(groupKey), ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': w.version } }),
      );
      const outbox = await documentClient().send(new GetCommand({ TableName: config.alertsTable, Key: outboxKey(groupKey, w.windowId), ConsistentRead: true }));
      await publishOutboxEntry(outbox.Item, now);
      return 'published';
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      // A member joined or resolved meanwhile: re-read and render again with it included (same window id).
      const res = await documentClient().send(new GetCommand({ TableName: config.alertsTable, Key: openKey(groupKey), ConsistentRead: true }));
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
  const open = await documentClient().send(new GetCommand({ TableName: config.alertsTable, Key: openKey(groupKey), ConsistentRead: true }));
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
    new UpdateCommand({ TableName: config.alertsTable, Key: windowKey(groupKey, windowId), UpdateExpression: 'SET notified = :t', ExpressionAttributeValues: { ':t': true }, ReturnValues: 'ALL_NEW' }),
  );
  logger.info('alert group published', { groupKey, windowId, members: event.group?.count, severity: event.severity, messageId });
  await recordAlertEvent('alert.raised', { dedupeKey: event.dedupeKey, alertName: event.alertName, deviceId: event.deviceId, service: event.service }, { grouped: groupKey, windowId, count: event.group?.count ?? 1, severity: event.severity }, now);
  // Everyone may have recovered while the message was on its way.
  await maybeAnnounceGroupResolved(res.Attributes, now, DEFAULT_ALERT_POLICY);
  return true;
}
