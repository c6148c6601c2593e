/**
 * Keeps the local fleet's data across `npm start` runs. moto_server holds everything in memory, and its
 * recorder replays raw requests (receives and deletes included), so instead we dump the data itself on
 * shutdown — every DynamoDB item and every SQS message — and load it into the fresh emulator next time.
 * Messages come back with a receive count of 0 (SQS has no API to set it); everything else is kept.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { BatchWriteItemCommand, DynamoDBClient, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  type MessageAttributeValue,
} from '@aws-sdk/client-sqs';
import { INFRA as defaultSpec, type InfraSpec } from '../infra/spec.js';
import type { ClientOverrides } from './provision.js';

export const DUMP_FORMAT = 1;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface StateDump {
  format: number;
  dumpedAt: string;
  /** Logical table name → items (AttributeValue JSON, binary as base64). */
  tables: Record<string, Json[]>;
  /** Logical queue name → messages. */
  queues: Record<string, DumpedMessage[]>;
}
export interface DumpedMessage {
  body: string;
  attributes: Record<string, { DataType: string; StringValue?: string; BinaryValue?: string }>;
  receiveCount: number;
}

export interface DumpCounts {
  items: number;
  messages: number;
}

/**
 * Read everything out of the emulator. Queues are emptied by it: only call this on shutdown, or pass
 * `tables only` for a snapshot of a running fleet (SQS has no way to read a message without receiving it).
 */
export async function dumpState(
  env: Record<string, string>,
  spec: InfraSpec = defaultSpec,
  client: ClientOverrides = {},
  opts: { tablesOnly?: boolean } = {},
): Promise<StateDump> {
  const ddb = new DynamoDBClient({ ...client });
  // An explicit endpoint also makes the SDK ignore the host inside queue URLs.
  const sqs = new SQSClient({ ...client });
  const dump: StateDump = { format: DUMP_FORMAT, dumpedAt: new Date().toISOString(), tables: {}, queues: {} };
  try {
    for (const t of spec.tables) {
      const items: Json[] = [];
      let ExclusiveStartKey: Record<string, AttributeValue> | undefined;
      do {
        const page = await ddb.send(new ScanCommand({ TableName: env[t.envVar], ExclusiveStartKey }));
        for (const item of page.Items ?? []) items.push(encodeItem(item));
        ExclusiveStartKey = page.LastEvaluatedKey;
      } while (ExclusiveStartKey);
      dump.tables[t.logicalName] = items;
    }
    for (const q of opts.tablesOnly ? [] : spec.queues) {
      const messages: DumpedMessage[] = [];
      for (;;) {
        // A long visibility timeout: each message is read exactly once even if the loop is slow.
        const { Messages } = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: env[q.envVar],
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 0,
            VisibilityTimeout: 600,
            MessageAttributeNames: ['All'],
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
        );
        if (!Messages?.length) break;
        for (const m of Messages) {
          const attributes: DumpedMessage['attributes'] = {};
          for (const [k, v] of Object.entries(m.MessageAttributes ?? {})) {
            attributes[k] = {
              DataType: v.DataType ?? 'String',
              ...(v.StringValue !== undefined ? { StringValue: v.StringValue } : {}),
              ...(v.BinaryValue !== undefined ? { BinaryValue: Buffer.from(v.BinaryValue).toString('base64') } : {}),
            };
          }
          messages.push({
            body: m.Body ?? '',
            attributes,
            receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 0),
          });
        }
      }
      dump.queues[q.logicalName] = messages;
    }
    return dump;
  } finally {
    ddb.destroy();
    sqs.destroy();
  }
}

/** Put a dump back into freshly provisioned resources. Items whose TTL has passed are left out. */
export async function loadState(
  dump: StateDump,
  env: Record<string, string>,
  spec: InfraSpec = defaultSpec,
  now = Date.now(),
  client: ClientOverrides = {},
): Promise<DumpCounts> {
  if (dump.format !== DUMP_FORMAT)
    throw new Error(`state dump format ${dump.format} is not supported (expected ${DUMP_FORMAT}); start with --fresh`);
  const ddb = new DynamoDBClient({ ...client });
  const sqs = new SQSClient({ ...client });
  const counts: DumpCounts = { items: 0, messages: 0 };
  try {
    for (const t of spec.tables) {
      const ttl = t.ttlAttribute;
      const items = (dump.tables[t.logicalName] ?? [])
        .map((i) => decodeItem(i as Record<string, Json>))
        .filter((i) => !ttl || !i[ttl]?.N || Number(i[ttl].N) * 1000 > now);
      for (let i = 0; i < items.length; i += 25) {
        let requests = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
        for (let attempt = 0; requests.length; attempt++) {
          if (attempt > 10) throw new Error(`loading ${t.logicalName}: items stayed unprocessed`);
          const res = await ddb.send(new BatchWriteItemCommand({ RequestItems: { [env[t.envVar]!]: requests } }));
          requests = (res.UnprocessedItems?.[env[t.envVar]!] ?? []) as typeof requests;
        }
      }
      counts.items += items.length;
    }
    for (const q of spec.queues) {
      const messages = dump.queues[q.logicalName] ?? [];
      for (let i = 0; i < messages.length; i += 10) {
        const chunk = messages.slice(i, i + 10);
        const res = await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: env[q.envVar],
            Entries: chunk.map((m, j) => ({
              Id: String(j),
              MessageBody: m.body,
              MessageAttributes: Object.fromEntries(
                Object.entries(m.attributes).map(([k, v]): [string, MessageAttributeValue] => [
                  k,
                  {
                    DataType: v.DataType,
                    StringValue: v.StringValue,
                    ...(v.BinaryValue !== undefined ? { BinaryValue: Buffer.from(v.BinaryValue, 'base64') } : {}),
                  },
                ]),
              ),
            })),
          }),
        );
        if (res.Failed?.length) throw new Error(`loading queue ${q.logicalName}: ${res.Failed[0]?.Message}`);
      }
      counts.messages += messages.length;
    }
    return counts;
  } finally {
    ddb.destroy();
    sqs.destroy();
  }
}

export function writeDumpFile(file: string, dump: StateDump): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(dump), { mode: 0o600 });
  // rename is atomic: a crash mid-write leaves the previous dump intact.
  renameSync(tmp, file);
}

export function readDumpFile(file: string): StateDump | undefined {
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as StateDump;
}

export function countDump(d: StateDump): DumpCounts {
  return {
    items: Object.values(d.tables).reduce((n, t) => n + t.length, 0),
    messages: Object.values(d.queues).reduce((n, q) => n + q.length, 0),
  };
}

/** AttributeValue → JSON: binary values become base64 strings (JSON has no bytes). */
function encodeValue(v: AttributeValue): Json {
  if (v.B !== undefined) return { B: Buffer.from(v.B).toString('base64') };
  if (v.BS !== undefined) return { BS: v.BS.map((b) => Buffer.from(b).toString('base64')) };
  if (v.M !== undefined) return { M: encodeItem(v.M) };
  if (v.L !== undefined) return { L: v.L.map(encodeValue) };
  return v as unknown as Json;
}
function encodeItem(item: Record<string, AttributeValue>): { [k: string]: Json } {
  return Object.fromEntries(Object.entries(item).map(([k, v]) => [k, encodeValue(v)]));
}
function decodeValue(v: Json): AttributeValue {
  const o = v as Record<string, Json>;
  if ('B' in o) return { B: Buffer.from(o.B as string, 'base64') };
  if ('BS' in o) return { BS: (o.BS as string[]).map((b) => Buffer.from(b, 'base64')) };
  if ('M' in o) return { M: decodeItem(o.M as Record<string, Json>) };
  if ('L' in o) return { L: (o.L as Json[]).map(decodeValue) };
  return o as unknown as AttributeValue;
}
function decodeItem(item: Record<string, Json>): Record<string, AttributeValue> {
  return Object.fromEntries(Object.entries(item).map(([k, v]) => [k, decodeValue(v)]));
}
