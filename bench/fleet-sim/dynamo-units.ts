/**
 * DynamoDB request units the handlers consume, counted on the shared SDK client of the local fleet by the rules
 * DynamoDB bills on-demand tables with (the emulator's own ConsumedCapacity is a constant placeholder, so it
 * cannot be used). Every call made inside a metered scope (one Lambda invocation, see simulator.ts) is charged to
 * that scope:
 *
 *  - reads: GetItem/BatchGetItem per item, ceil(size / 4 KB), ×0.5 unless ConsistentRead, at least one step even
 *    when nothing is found; Query/Scan on the bytes read before the filter (returned items, plus the filtered-out
 *    ones at the average returned size), rounded up to 4 KB per call; TransactGetItems ×2;
 *  - writes: ceil(max(size before, size after) / 1 KB), at least 1, ×2 in TransactWriteItems; a refused
 *    conditional write still costs the units of the item it was checked against; plus one index write per GSI
 *    the item enters or leaves, two when its index key changes, one when an ALL-projected index's copy changes
 *    (keys-only indexes only change with their keys).
 *
 * Item sizes (attribute names + values, as DynamoDB sizes them) come from the images: the meter reads each
 * written item before its first metered write and again after every write, with uncounted consistent reads of
 * its own. Returned items smaller than the stored one (a ProjectionExpression) are charged at the stored size when
 * the meter has seen it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { GetItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { INFRA } from '../../infra/spec.js';

export type Image = Record<string, AttributeValue>;

/** DynamoDB item size: UTF-8 bytes of every attribute name plus its value's size. */
export function itemSize(item: Image): number {
  let size = 0;
  for (const [name, v] of Object.entries(item)) size += Buffer.byteLength(name) + valueSize(v);
  return size;
}
function valueSize(v: AttributeValue): number {
  if (v.S !== undefined) return Buffer.byteLength(v.S);
  if (v.N !== undefined) return Math.ceil(v.N.replace(/^-|\./g, '').replace(/^0+/, '').length / 2) + 1;
  if (v.B !== undefined) return v.B.length;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.SS) return v.SS.reduce((n, s) => n + Buffer.byteLength(s), 0);
  if (v.NS) return v.NS.reduce((n, s) => n + Math.ceil(s.length / 2) + 1, 0);
  if (v.BS) return v.BS.reduce((n, b) => n + b.length, 0);
  if (v.L) return 3 + v.L.reduce((n, x) => n + 1 + valueSize(x), 0);
  if (v.M) return 3 + Object.entries(v.M).reduce((n, [k, x]) => n + 1 + Buffer.byteLength(k) + valueSize(x), 0);
  return 0;
}

interface TableShape {
  keys: string[];
  indexes: { name: string; keys: string[]; keysOnly: boolean }[];
}

/** Key and index shape of each table, by its name in this fleet (FLEET_TABLE etc. in `env`). */
export function tableShapes(env: Record<string, string>): Map<string, TableShape> {
  const shapes = new Map<string, TableShape>();
  for (const t of INFRA.tables) {
    const name = env[t.envVar];
    if (!name) continue;
    shapes.set(name, {
      keys: [t.partitionKey.name, ...(t.sortKey ? [t.sortKey.name] : [])],
      indexes: t.indexes.map((i) => ({
        name: i.name,
        keys: [i.partitionKey.name, ...(i.sortKey ? [i.sortKey.name] : [])],
        keysOnly: !!i.keysOnly,
      })),
    });
  }
  return shapes;
}

export interface Charge {
  readUnits: number;
  writeUnits: number;
  calls: number;
}

export interface DynamoMeter<S> {
  /** Runs `fn` with its DynamoDB calls charged to `scope`. */
  run<T>(scope: S, fn: () => Promise<T>): Promise<T>;
  /** Each charge as it happens (the scope it was made in, and when). */
  onCharge(listener: (scope: S, charge: Charge, op: string, input: Record<string, any>) => void): void;
  /** Settles write charges still waiting for their after-image, then detaches. */
  stop(): Promise<void>;
}

/** True when a record is already in AttributeValue form (every value is one type-tagged object). */
function isImage(rec: Record<string, unknown>): boolean {
  return Object.values(rec).every(
    (v) =>
      !!v &&
      typeof v === 'object' &&
      !Array.isArray(v) &&
      Object.keys(v).length === 1 &&
      TYPE_TAGS.has(Object.keys(v)[0]!),
  );
}
const TYPE_TAGS = new Set(['S', 'N', 'B', 'M', 'L', 'BOOL', 'NULL', 'SS', 'NS', 'BS']);
const asImage = (rec: Record<string, any>): Image =>
  isImage(rec) ? rec : marshall(rec, { removeUndefinedValues: true, convertClassInstanceToMap: true });

/**
 * Inputs reach this step marshalled (the document client marshals before serialising); document-client outputs are
 * already unmarshalled by then, so items are brought back to AttributeValues for sizing.
 */
function normaliseOutput(o: Record<string, any>): Record<string, any> {
  const out = { ...o };
  if (o.Item) out.Item = asImage(o.Item);
  if (Array.isArray(o.Items)) out.Items = o.Items.map(asImage);
  if (o.Responses && !Array.isArray(o.Responses))
    out.Responses = Object.fromEntries(
      Object.entries(o.Responses as Record<string, any[]>).map(([t, items]) => [t, items.map(asImage)]),
    );
  if (Array.isArray(o.Responses))
    out.Responses = o.Responses.map((r: { Item?: Record<string, any> }) => (r.Item ? { Item: asImage(r.Item) } : r));
  return out;
}

const READ_STEP = 4096;
const WRITE_STEP = 1024;

export function meterDynamo<S>(client: DynamoDBClient, env: Record<string, string>): DynamoMeter<S> {
  const shapes = tableShapes(env);
  const als = new AsyncLocalStorage<S>();
  const images = new Map<string, Image | null>();
  const listeners: ((scope: S, charge: Charge, op: string, input: Record<string, any>) => void)[] = [];
  const pending = new Set<Promise<unknown>>();
  const name = `fleet-sim-meter-${randomBytes(3).toString('hex')}`;

  const keyOf = (table: string, item: Image): Image | undefined => {
    const shape = shapes.get(table);
    if (!shape?.keys.every((k) => item[k])) return undefined;
    return Object.fromEntries(shape.keys.map((k) => [k, item[k]!]));
  };
  const id = (table: string, key: Image) => `${table}|${JSON.stringify(key, Object.keys(key).sort())}`;
  // The meter's own reads: outside any scope, so not charged.
  const read = (table: string, key: Image) =>
    als
      .exit(() => client.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true })))
      .then((r) => r.Item ?? null);
  const charge = (scope: S, c: Charge, op: string, input: Record<string, any>) => {
    for (const l of listeners) l(scope, c, op, input);
  };

  const readUnits = (bytes: number, consistent: boolean) =>
    Math.max(1, Math.ceil(bytes / READ_STEP)) * (consistent ? 1 : 0.5);
  const storedSize = (table: string, item: Image) => {
    const key = keyOf(table, item);
    const known = key ? images.get(id(table, key)) : undefined;
    return Math.max(itemSize(item), known ? itemSize(known) : 0);
  };

  function writeCost(table: string, before: Image | null, after: Image | null, transactional: boolean): number {
    const size = Math.max(before ? itemSize(before) : 0, after ? itemSize(after) : 0);
    let units = Math.max(1, Math.ceil(size / WRITE_STEP)) * (transactional ? 2 : 1);
    for (const ix of shapes.get(table)?.indexes ?? []) {
      const inBefore = !!before && ix.keys.every((k) => before[k]);
      const inAfter = !!after && ix.keys.every((k) => after[k]);
      if (!inBefore && !inAfter) continue;
      const projected = (img: Image) =>
        ix.keysOnly
          ? itemSize(Object.fromEntries([...ix.keys, ...(shapes.get(table)?.keys ?? [])].map((k) => [k, img[k]!])))
          : itemSize(img);
      const step = (img: Image) => Math.max(1, Math.ceil(projected(img) / WRITE_STEP));
      if (inBefore && inAfter) {
        const keyChanged = ix.keys.some((k) => JSON.stringify(before![k]) !== JSON.stringify(after![k]));
        if (keyChanged) units += step(before!) + step(after!);
        else if (!ix.keysOnly && JSON.stringify(before) !== JSON.stringify(after)) units += step(after!);
      } else units += step((inAfter ? after : before)!);
    }
    return units;
  }

  /**
   * A metered write of one or more items (one call): their before-images, the call, their after-images, the units.
   * The after-images are read in the background (`stop()` waits for them), so the caller is not slowed by them.
   */
  async function meteredWrite<T>(
    scope: S,
    writes: { table: string; key: Image | undefined }[],
    transactional: boolean,
    send: () => Promise<T>,
    op: string,
    input: Record<string, any>,
  ): Promise<T> {
    const step = transactional ? 2 : 1;
    const known = writes
      .filter((w): w is { table: string; key: Image } => !!w.key)
      .map((w) => ({ ...w, k: id(w.table, w.key) }));
    const unknown = writes.length - known.length;
    if (unknown) charge(scope, { readUnits: 0, writeUnits: unknown * step, calls: 0 }, op, input);
    const befores = await Promise.all(
      known.map((w) => (images.has(w.k) ? Promise.resolve(images.get(w.k)!) : read(w.table, w.key).catch(() => null))),
    );
    let failed = false;
    try {
      return await send();
    } catch (err) {
      failed =
        (err as Error).name === 'ConditionalCheckFailedException' ||
        (err as Error).name === 'TransactionCanceledException';
      throw err;
    } finally {
      for (const [i, w] of known.entries()) {
        const before = befores[i]!;
        const settle = read(w.table, w.key).then(
          (after) => {
            images.set(w.k, after);
            const units = failed
              ? Math.max(1, Math.ceil((before ? itemSize(before) : 0) / WRITE_STEP)) * step
              : writeCost(w.table, before, after, transactional);
            charge(scope, { readUnits: 0, writeUnits: units, calls: 0 }, op, input);
          },
          () => charge(scope, { readUnits: 0, writeUnits: step, calls: 0 }, op, input),
        );
        pending.add(settle);
        void settle.finally(() => pending.delete(settle));
      }
    }
  }

  client.middlewareStack.add(
    (next, context) => async (args) => {
      const scope = als.getStore();
      if (scope === undefined) return next(args);
      const input = args.input as Record<string, any>;
      const op = context.commandName ?? 'unknown';
      charge(scope, { readUnits: 0, writeUnits: 0, calls: 1 }, op, input);
      switch (op) {
        case 'PutItemCommand':
          return meteredWrite(
            scope,
            [{ table: input.TableName, key: keyOf(input.TableName, input.Item) }],
            false,
            () => next(args),
            op,
            input,
          );
        case 'UpdateItemCommand':
        case 'DeleteItemCommand':
          return meteredWrite(
            scope,
            [{ table: input.TableName, key: input.Key as Image }],
            false,
            () => next(args),
            op,
            input,
          );
        case 'BatchWriteItemCommand': {
          const writes = Object.entries(input.RequestItems as Record<string, any[]>).flatMap(([table, reqs]) =>
            reqs.map((r) => ({
              table,
              key: r.PutRequest ? keyOf(table, r.PutRequest.Item) : (r.DeleteRequest.Key as Image),
            })),
          );
          return meteredWrite(scope, writes, false, () => next(args), op, input);
        }
        case 'TransactWriteItemsCommand': {
          const items = input.TransactItems as any[];
          const writes = items
            .filter((t) => !t.ConditionCheck)
            .map((t) => ({
              table: (t.Put ?? t.Update ?? t.Delete).TableName as string,
              key: t.Put ? keyOf(t.Put.TableName, t.Put.Item) : ((t.Update ?? t.Delete).Key as Image),
            }));
          // A condition check in a transaction reads its item transactionally.
          const checks = items.filter((t) => t.ConditionCheck).length;
          if (checks) charge(scope, { readUnits: 2 * checks, writeUnits: 0, calls: 0 }, op, input);
          return meteredWrite(scope, writes, true, () => next(args), op, input);
        }
      }
      const out = await next(args);
      const o = normaliseOutput(out.output as Record<string, any>);
      let units = 0;
      switch (op) {
        case 'GetItemCommand':
          units = readUnits(o.Item ? storedSize(input.TableName, o.Item) : 0, !!input.ConsistentRead);
          break;
        case 'BatchGetItemCommand':
          for (const [table, items] of Object.entries((o.Responses ?? {}) as Record<string, Image[]>))
            for (const it of items)
              units += readUnits(storedSize(table, it), !!input.RequestItems?.[table]?.ConsistentRead);
          break;
        case 'TransactGetItemsCommand':
          for (const [i, r] of ((o.Responses ?? []) as { Item?: Image }[]).entries())
            units +=
              2 *
              Math.max(
                1,
                Math.ceil((r.Item ? storedSize(input.TransactItems[i].Get.TableName, r.Item) : 0) / READ_STEP),
              );
          break;
        case 'QueryCommand':
        case 'ScanCommand': {
          const items = (o.Items ?? []) as Image[];
          const sizes = items.map((it) => (input.IndexName ? itemSize(it) : storedSize(input.TableName, it)));
          const returned = sizes.reduce((a, b) => a + b, 0);
          const filteredOut = Math.max(0, (o.ScannedCount ?? items.length) - items.length);
          const avg = items.length ? returned / items.length : 100;
          units = readUnits(returned + filteredOut * avg, !!input.ConsistentRead);
          break;
        }
      }
      if (units) charge(scope, { readUnits: units, writeUnits: 0, calls: 0 }, op, input);
      return out;
    },
    // After the document client's marshalling: inputs and outputs are AttributeValues here.
    { step: 'build', name },
  );

  return {
    run: (scope, fn) => als.run(scope, fn),
    onCharge: (l) => void listeners.push(l),
    async stop() {
      while (pending.size) await Promise.allSettled([...pending]);
      client.middlewareStack.remove(name);
    },
  };
}
