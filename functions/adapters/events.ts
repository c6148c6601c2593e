/**
 * Fleet events (EVENTS_TABLE): what happened, to which device, under which correlation id.
 * pk `DEVICE#<id>` (or `FLEET`), sk `<iso>#<eventId>`; `day` feeds the byDay GSI for fleet-wide
 * "recent events"; `typeShard` (`<type>#<n>`) the byType GSI for "recent events of one type" fleet-wide;
 * `expiresAt` (epoch s) lets DynamoDB TTL drop them after 14 days.
 */
import { PutCommand, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { FleetEvent } from '../contract/operator.js';
import { documentClient } from '../lib/aws.js';
import { config } from '../lib/config.js';
import { allEventTypeShards, eventTypeShard } from '../domain/shards.js';
import { newEventId } from '../lib/ids.js';
import { writeIf } from './common/conditions.js';
import { countShards, queryShards } from './common/sharded-query.js';

export const EVENT_TTL_SECONDS = 14 * 86400;

export interface NewEvent {
  type: string;
  /** A caller-chosen id (default: a fresh time-ordered one), for writes that must be idempotent. */
  eventId?: string;
  deviceId?: string;
  service?: string;
  correlationId?: string;
  detail?: Record<string, unknown>;
}

interface EventItem extends FleetEvent {
  pk: string;
  sk: string;
  day: string;
  typeShard: string;
  expiresAt: number;
}

/** The item for an event, for callers that write it inside a transaction with the change it records. */
export function eventItem(event: NewEvent, now = Date.now()): EventItem {
  const at = new Date(now).toISOString();
  const eventId = event.eventId ?? newEventId(now);
  const item: EventItem = {
    pk: event.deviceId ? `DEVICE#${event.deviceId}` : 'FLEET',
    sk: `${at}#${eventId}`,
    day: at.slice(0, 10),
    // Spread by device (or by event for fleet-wide ones) so a fleet-wide burst of one type is not one hot partition.
    typeShard: eventTypeShard(event.type, event.deviceId ?? eventId),
    expiresAt: Math.floor(now / 1000) + EVENT_TTL_SECONDS,
    eventId,
    type: event.type,
    at,
    detail: event.detail ?? {},
  };
  if (event.deviceId) item.deviceId = event.deviceId;
  if (event.service) item.service = event.service;
  if (event.correlationId) item.correlationId = event.correlationId;
  return item;
}

export async function recordEvent(event: NewEvent, now = Date.now()): Promise<FleetEvent> {
  const item = eventItem(event, now);
  await documentClient().send(new PutCommand({ TableName: config.eventsTable, Item: item }));
  return toFleetEvent(item);
}

/**
 * Write an event at most once: the item's key is fixed by its `eventId` and time, and the put is conditional on
 * it not existing yet, so repeating the same write (a retry after a lost answer) leaves one event. False when it
 * already existed.
 */
export function recordEventOnce(event: NewEvent & { eventId: string }, now: number): Promise<boolean> {
  const item = eventItem(event, now);
  return writeIf(
    new PutCommand({ TableName: config.eventsTable, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }),
  );
}

export interface RecentEventsQuery {
  deviceId?: string;
  type?: string;
  limit: number;
  now?: number;
}

/**
 * Newest first. A device's events come from its partition; fleet-wide ones of one type from the byType index
 * (its shards merged); fleet-wide ones of any type walk the byDay index back in time.
 */
export async function recentEvents(q: RecentEventsQuery): Promise<FleetEvent[]> {
  if (q.type && !q.deviceId) return recentEventsOfType(q.type, q.limit);
  const now = q.now ?? Date.now();
  const out: FleetEvent[] = [];
  const filter = q.type ? { FilterExpression: '#type = :type', ExpressionAttributeNames: { '#type': 'type' } } : {};
  const collect = async (base: Omit<QueryCommandInput, 'ExclusiveStartKey'>) => {
    let startKey: Record<string, unknown> | undefined;
    // Bounded paging: a type filter over a busy partition must not turn into an unbounded read.
    for (let page = 0; page < 10 && out.length < q.limit; page++) {
      const res = await documentClient().send(
        new QueryCommand({ ...base, Limit: Math.max(q.limit - out.length, 25), ExclusiveStartKey: startKey }),
      );
      for (const item of res.Items ?? []) if (out.length < q.limit) out.push(toFleetEvent(item as EventItem));
      startKey = res.LastEvaluatedKey;
      if (!startKey) break;
    }
  };
  const typeValue = q.type ? { ':type': q.type } : {};
  if (q.deviceId) {
    await collect({
      TableName: config.eventsTable,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `DEVICE#${q.deviceId}`, ...typeValue },
      ScanIndexForward: false,
      ...filter,
    });
    return out;
  }
  for (let d = 0; d < EVENT_TTL_SECONDS / 86400 && out.length < q.limit; d++) {
    const day = new Date(now - d * 86400_000).toISOString().slice(0, 10);
    await collect({
      TableName: config.eventsTable,
      IndexName: 'byDay',
      KeyConditionExpression: '#day = :day',
      ExpressionAttributeNames: { '#day': 'day' },
      ExpressionAttributeValues: { ':day': day },
      ScanIndexForward: false,
    });
  }
  return out;
}

/** Each shard's newest `limit`, merged: the fleet's newest `limit` of that type (4 Queries, no filter). */
async function recentEventsOfType(type: string, limit: number): Promise<FleetEvent[]> {
  const items = await queryShards(
    allEventTypeShards(type),
    (shard) => ({
      TableName: config.eventsTable,
      IndexName: 'byType',
      KeyConditionExpression: 'typeShard = :shard',
      ExpressionAttributeValues: { ':shard': shard },
      ScanIndexForward: false,
    }),
    limit,
  );
  return (items as unknown as EventItem[])
    .sort((a, b) => (a.sk < b.sk ? 1 : a.sk > b.sk ? -1 : 0))
    .slice(0, limit)
    .map(toFleetEvent);
}

function toFleetEvent(item: EventItem): FleetEvent {
  const { pk: _pk, sk: _sk, day: _day, typeShard: _ts, expiresAt: _exp, ...event } = item;
  return { ...event, detail: event.detail ?? {} };
}

/**
 * Events of one type since an instant (the byType index, its 4 shards, key conditions only): for the daily summary.
 * Reads what happened in the span, never the fleet: its cost follows the number of such events.
 */
export async function eventsOfTypeSince(type: string, sinceIso: string): Promise<FleetEvent[]> {
  const items = await queryShards(allEventTypeShards(type), typeSinceQuery(sinceIso), Number.POSITIVE_INFINITY);
  return items.map((item) => toFleetEvent(item as unknown as EventItem));
}

/** How many events of one type since an instant (Select COUNT: only the count comes back). */
export function countEventsOfTypeSince(type: string, sinceIso: string): Promise<number> {
  return countShards(allEventTypeShards(type), typeSinceQuery(sinceIso));
}

const typeSinceQuery =
  (sinceIso: string) =>
  (shard: string): QueryCommandInput => ({
    TableName: config.eventsTable,
    IndexName: 'byType',
    KeyConditionExpression: 'typeShard = :shard AND sk >= :since',
    ExpressionAttributeValues: { ':shard': shard, ':since': sinceIso },
  });
