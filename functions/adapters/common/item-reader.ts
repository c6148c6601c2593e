/**
 * Reading raw DynamoDB items one by one, so one item stored in a shape the SDK cannot unmarshal (a number
 * beyond what JavaScript holds, a map member without a type descriptor...) costs that item only, not the
 * whole page: listings skip it, say so in their answer, log its key and count it in `unreadable_items`
 * (dimension `listing`: which read; never the item's id, see docs/runbook.md#unreadable-items). A read of one
 * item that cannot be read throws UnreadableItemError, which names it: the API answers it as `unreadable_item`,
 * the job dispatcher dead-letters the message at once (no retry can make the item readable).
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logger, metrics } from '../../lib/observability.js';

export interface UnreadableItem {
  /** The item's id (device id, job id) as its key attribute says. */
  id: string;
  /** Which item of it (META, STATE, CIRCUIT, job...). */
  item: string;
  reason: string;
}

export type RawItem = Record<string, AttributeValue>;

/** Unmarshal each item; the unreadable ones go to `unreadable` (with `describe` naming them) instead of failing all. */
export function readItems<T>(
  listing: string,
  raw: readonly RawItem[],
  describe: (raw: RawItem) => { id: string; item: string },
): { items: T[]; unreadable: UnreadableItem[] } {
  const items: T[] = [];
  const unreadable: UnreadableItem[] = [];
  for (const r of raw) {
    try {
      items.push(unmarshall(r) as T);
    } catch (err) {
      // The SDK's message names the offending value's type, never the secret-free item's other content.
      unreadable.push({
        ...describe(r),
        reason: `stored in a shape that cannot be read: ${String((err as Error)?.message ?? err).slice(0, 200)}`,
      });
    }
  }
  if (unreadable.length) {
    logger.warn('unreadable items skipped', { listing, unreadable });
    const m = metrics.singleMetric();
    m.addDimension('listing', listing);
    m.addMetric('unreadable_items', MetricUnit.Count, unreadable.length);
  }
  return { items, unreadable };
}

export class UnreadableItemError extends Error {
  override name = 'UnreadableItemError';
  constructor(readonly unreadable: UnreadableItem) {
    super(`${unreadable.id} (${unreadable.item}) is ${unreadable.reason}; see docs/runbook.md#unreadable-items`);
  }
}

/** Unmarshal one item read on its own; an unreadable one is logged, counted and thrown as UnreadableItemError. */
export function readItem<T>(
  listing: string,
  raw: RawItem | undefined,
  describe: (raw: RawItem) => { id: string; item: string },
): T | undefined {
  if (!raw) return undefined;
  const { items, unreadable } = readItems<T>(listing, [raw], describe);
  if (unreadable[0]) throw new UnreadableItemError(unreadable[0]);
  return items[0];
}

/** The string value of a key attribute, for naming an item that cannot be read as a whole. */
export const rawString = (raw: RawItem, name: string) => (raw[name] && 'S' in raw[name]! ? String(raw[name]!.S) : '?');
