/**
 * A Lambda SQS event source mapping, locally: long-poll the queue, hand batches to the handler as SQS events,
 * delete what succeeded, and leave the rest for SQS itself (visibility timeout → redelivery with a higher
 * ApproximateReceiveCount → the queue's redrive policy moves it to the DLQ after maxReceiveCount).
 * Semantics follow ReportBatchItemFailures: a thrown error fails the whole batch; `batchItemFailures` fails
 * only the listed items; an invalid item identifier fails the whole batch, as Lambda does.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
  type MessageAttributeValue,
} from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord, SQSMessageAttributes } from 'aws-lambda';
import { invokeWithTimeout, localRegion, type LocalHandler } from './lambda-context.js';

export interface SqsPollerOptions {
  queueUrl: string;
  functionName: string;
  /** The handler; or `resolve`, called per batch (so a handler module that appears later is picked up). */
  handler?: LocalHandler;
  resolve?: () => Promise<LocalHandler>;
  /** Records per invocation (Lambda: 1..10000; more than 10 needs a batching window). Default 10. */
  batchSize?: number;
  /** Lambda's MaximumBatchingWindowInSeconds, in ms: keep receiving until batchSize or this much time. Default 0. */
  maxBatchingWindowMs?: number;
  /** Long-poll wait per ReceiveMessage (0..20 s). Default 20 (Lambda always long-polls). */
  waitTimeSeconds?: number;
  /** The function's timeout; a batch still running then counts as failed. Default 30 s. */
  functionTimeoutMs?: number;
  /** Parallel poll loops (Lambda starts five; one is plenty locally). Default 1. */
  concurrency?: number;
  client?: SQSClient;
  onError?: (err: unknown, phase: 'receive' | 'invoke' | 'delete') => void;
  onBatch?: (info: BatchOutcome) => void;
}

export interface BatchOutcome {
  functionName: string;
  size: number;
  succeeded: number;
  failed: number;
  /** `throw`: the handler threw or timed out; `invalid-response`: a bad batchItemFailures entry. */
  wholeBatchFailure?: 'throw' | 'invalid-response';
  error?: string;
}

export interface PollerStats {
  batches: number;
  received: number;
  succeeded: number;
  failed: number;
  receiveErrors: number;
}

export interface SqsPoller {
  readonly stats: PollerStats;
  /**
   * Stop receiving and wait for in-flight batches to finish (and their deletes). `drain` lets a long poll in
   * progress return (up to waitTimeSeconds) instead of aborting it. With `releaseFailed`, failed
   * messages still hidden by their visibility timeout are made visible again (before a state dump: SQS offers
   * no other way to read a hidden message). Returns how many were released.
   */
  stop(opts?: { releaseFailed?: boolean; drain?: boolean }): Promise<number>;
  /** The same release while running (before an emulator snapshot). */
  releaseFailed(): Promise<number>;
  /**
   * Stop receiving and let in-flight batches finish, without tearing down (an emulator snapshot cannot read
   * in-flight messages, which SQS itself would keep); resume() polls again.
   */
  pause(): Promise<void>;
  resume(): void;
}

const MAX_TRACKED_FAILURES = 10_000;

export function startSqsPoller(opts: SqsPollerOptions): SqsPoller {
  const client = opts.client ?? new SQSClient({});
  const ownsClient = !opts.client;
  const batchSize = opts.batchSize ?? 10;
  if (batchSize < 1 || batchSize > 10_000) throw new Error(`batchSize ${batchSize} outside 1..10000`);
  if (batchSize > 10 && !opts.maxBatchingWindowMs)
    throw new Error('a batchSize above 10 needs maxBatchingWindowMs, as in Lambda');
  const waitTimeSeconds = Math.min(20, Math.max(0, opts.waitTimeSeconds ?? 20));
  const timeoutMs = opts.functionTimeoutMs ?? 30_000;
  const stats: PollerStats = { batches: 0, received: 0, succeeded: 0, failed: 0, receiveErrors: 0 };
  let abort = new AbortController();
  let stopping = false;
  // Paused: the loops end (in-flight batches finish); resume() starts them again.
  let paused = false;
  let queueArn: string | undefined;
  // messageId → latest receipt handle of a message left for redelivery.
  const failedHandles = new Map<string, string>();

  if (!opts.handler === !opts.resolve) throw new Error('give exactly one of handler and resolve');
  const resolveHandler = async (): Promise<LocalHandler> => opts.handler ?? opts.resolve!();

  async function arn(): Promise<string> {
    if (queueArn) return queueArn;
    const { Attributes } = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: opts.queueUrl, AttributeNames: ['QueueArn'] }),
      {
        abortSignal: abort.signal,
      },
    );
    queueArn = Attributes?.QueueArn ?? `arn:aws:sqs:${localRegion()}:000000000000:${opts.queueUrl.split('/').pop()}`;
    return queueArn;
  }

  async function receiveBatch(): Promise<Message[]> {
    const messages: Message[] = [];
    const windowEnds = Date.now() + (opts.maxBatchingWindowMs ?? 0);
    do {
      const remainingWindowS = Math.ceil((windowEnds - Date.now()) / 1000);
      const wait = messages.length === 0 ? waitTimeSeconds : Math.max(0, Math.min(waitTimeSeconds, remainingWindowS));
      const { Messages } = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: opts.queueUrl,
          MaxNumberOfMessages: Math.min(10, batchSize - messages.length),
          WaitTimeSeconds: wait,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
        }),
        { abortSignal: abort.signal },
      );
      if (Messages?.length) messages.push(...Messages);
      else if (messages.length) break;
    } while (!stopping && !paused && messages.length > 0 && messages.length < batchSize && Date.now() < windowEnds);
    return messages;
  }

  async function loop(): Promise<void> {
    let backoffMs = 0;
    while (!stopping && !paused) {
      let messages: Message[];
      try {
        const sourceArn = await arn();
        messages = await receiveBatch();
        backoffMs = 0;
        if (messages.length === 0) continue;
        await processBatch(messages, sourceArn);
      } catch (err) {
        if (stopping || paused) break;
        stats.receiveErrors++;
        opts.onError?.(err, 'receive');
        // The emulator restarting, the network dropping: back off and keep polling, as the ESM does.
        backoffMs = Math.min(10_000, backoffMs ? backoffMs * 2 : 250);
        await sleep(backoffMs, abort.signal);
      }
    }
  }

  async function processBatch(messages: Message[], sourceArn: string): Promise<void> {
    const event: SQSEvent = { Records: messages.map((m) => toRecord(m, sourceArn)) };
    stats.batches++;
    stats.received += messages.length;
    let failedIds: Set<string>;
    let outcome: BatchOutcome;
    try {
      const handler = await resolveHandler();
      const result = await invokeWithTimeout(handler, event, opts.functionName, timeoutMs);
      const parsed = parseBatchResponse(result, new Set(messages.map((m) => m.MessageId!)));
      if (parsed === 'invalid') {
        failedIds = new Set(messages.map((m) => m.MessageId!));
        outcome = {
          functionName: opts.functionName,
          size: messages.length,
          succeeded: 0,
          failed: messages.length,
          wholeBatchFailure: 'invalid-response',
        };
      } else {
        failedIds = parsed;
        outcome = {
          functionName: opts.functionName,
          size: messages.length,
          succeeded: messages.length - parsed.size,
          failed: parsed.size,
        };
      }
    } catch (err) {
      opts.onError?.(err, 'invoke');
      failedIds = new Set(messages.map((m) => m.MessageId!));
      outcome = {
        functionName: opts.functionName,
        size: messages.length,
        succeeded: 0,
        failed: messages.length,
        wholeBatchFailure: 'throw',
        error: (err as Error)?.message ?? String(err),
      };
    }
    const done = messages.filter((m) => !failedIds.has(m.MessageId!));
    for (const m of messages) {
      failedHandles.delete(m.MessageId!);
      if (failedIds.has(m.MessageId!)) failedHandles.set(m.MessageId!, m.ReceiptHandle!);
    }
    while (failedHandles.size > MAX_TRACKED_FAILURES) failedHandles.delete(failedHandles.keys().next().value!);
    stats.succeeded += done.length;
    stats.failed += failedIds.size;
    // Failed items are left alone: SQS makes them visible again after the visibility timeout.
    for (let i = 0; i < done.length; i += 10) {
      const chunk = done.slice(i, i + 10);
      try {
        const res = await client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: opts.queueUrl,
            Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })),
          }),
        );
        if (res.Failed?.length)
          opts.onError?.(
            new Error(`delete failed for ${res.Failed.length} message(s): ${res.Failed[0]?.Message}`),
            'delete',
          );
      } catch (err) {
        // Not deleted → redelivered: the handler's idempotency makes that harmless (at-least-once, as in AWS).
        opts.onError?.(err, 'delete');
      }
    }
    opts.onBatch?.(outcome);
  }

  const startLoops = () => Array.from({ length: Math.max(1, opts.concurrency ?? 1) }, () => loop());
  let loops = startLoops();
  return {
    stats,
    async stop(stopOpts = {}) {
      if (stopping) return 0;
      stopping = true;
      // Aborting a long poll client-side can lose the messages it was just handed (the server already hid
      // them); a drain waits for the receive to return and processes what it got.
      if (!stopOpts.drain) abort.abort();
      await Promise.allSettled(loops);
      const released = stopOpts.releaseFailed ? await releaseFailed() : 0;
      if (ownsClient) client.destroy();
      return released;
    },
    releaseFailed: () => releaseFailed(),
    async pause() {
      if (paused || stopping) return;
      paused = true;
      // No abort: the receive in progress returns (within waitTimeSeconds) and its batch is processed.
      await Promise.allSettled(loops);
    },
    resume() {
      if (!paused || stopping) return;
      paused = false;
      abort = new AbortController();
      loops = startLoops();
    },
  };

  async function releaseFailed(): Promise<number> {
    let released = 0;
    const handles = [...failedHandles.values()];
    failedHandles.clear();
    for (let i = 0; i < handles.length; i += 10) {
      const chunk = handles.slice(i, i + 10);
      try {
        const res = await client.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: opts.queueUrl,
            Entries: chunk.map((h, j) => ({ Id: String(j), ReceiptHandle: h, VisibilityTimeout: 0 })),
          }),
        );
        // Handles of messages already redelivered or dead-lettered fail here: nothing to release.
        released += res.Successful?.length ?? 0;
      } catch (err) {
        opts.onError?.(err, 'delete');
      }
    }
    return released;
  }
}

/**
 * `batchItemFailures` as Lambda reads it: absent/empty/null result → all succeeded; a listed identifier that is
 * empty or not in the batch → the whole batch failed.
 */
export function parseBatchResponse(result: unknown, batchIds: Set<string>): Set<string> | 'invalid' {
  if (result === undefined || result === null || result === '') return new Set();
  if (typeof result !== 'object') return new Set();
  const failures = (result as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return 'invalid';
  const ids = new Set<string>();
  for (const f of failures) {
    const id = (f as { itemIdentifier?: unknown })?.itemIdentifier;
    if (typeof id !== 'string' || !id || !batchIds.has(id)) return 'invalid';
    ids.add(id);
  }
  return ids;
}

export function toRecord(m: Message, eventSourceARN: string): SQSRecord {
  const attrs = m.Attributes ?? {};
  const messageAttributes: SQSMessageAttributes = {};
  for (const [name, v] of Object.entries(m.MessageAttributes ?? {})) messageAttributes[name] = toRecordAttribute(v);
  return {
    messageId: m.MessageId!,
    receiptHandle: m.ReceiptHandle!,
    body: m.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attrs.ApproximateReceiveCount ?? '1',
      SentTimestamp: attrs.SentTimestamp ?? String(Date.now()),
      SenderId: attrs.SenderId ?? 'AIDAIENQZJOLO23YVJ4VO',
      ApproximateFirstReceiveTimestamp: attrs.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      ...(attrs.AWSTraceHeader ? { AWSTraceHeader: attrs.AWSTraceHeader } : {}),
      ...(attrs.MessageGroupId ? { MessageGroupId: attrs.MessageGroupId } : {}),
      ...(attrs.MessageDeduplicationId ? { MessageDeduplicationId: attrs.MessageDeduplicationId } : {}),
      ...(attrs.SequenceNumber ? { SequenceNumber: attrs.SequenceNumber } : {}),
    },
    messageAttributes,
    md5OfBody: m.MD5OfBody ?? '',
    ...(m.MD5OfMessageAttributes ? { md5OfMessageAttributes: m.MD5OfMessageAttributes } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN,
    awsRegion: eventSourceARN.split(':')[3] || localRegion(),
  };
}

function toRecordAttribute(v: MessageAttributeValue): SQSMessageAttributes[string] {
  return {
    dataType: v.DataType ?? 'String',
    ...(v.StringValue !== undefined ? { stringValue: v.StringValue } : {}),
    ...(v.BinaryValue !== undefined ? { binaryValue: Buffer.from(v.BinaryValue).toString('base64') } : {}),
    stringListValues: v.StringListValues ?? [],
    binaryListValues: (v.BinaryListValues ?? []).map((b) => Buffer.from(b).toString('base64')),
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
