/**
 * Dead-letter queues: put a message there with its reason, list what is there (without deleting), move all or
 * a filtered subset back to the source queue (dry-run, rate-limited), and read the depth.
 *
 * Listing receives with a short visibility and then makes every message visible again at once, so a listing
 * never hides messages from a redrive that follows it and never deletes anything.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
  type MessageAttributeValue,
} from '@aws-sdk/client-sqs';
import type { SQSMessageAttributes } from 'aws-lambda';
import { sqsClient } from '../lib/aws.js';
import { config } from '../lib/config.js';
import {
  DLQ_ATTR,
  FAILURE_ATTRIBUTES,
  groupDeadLetters,
  matchesFilter,
  nextSendAt,
  toDeadLetter,
  type DeadLetter,
  type DeadLetterGroup,
} from '../domain/dead-letters.js';

export type DlqName = 'jobs' | 'alerts';

export function queuesOf(name: DlqName): { dlqUrl: string; sourceUrl: string } {
  return name === 'jobs'
    ? { dlqUrl: config.jobsDlqUrl, sourceUrl: config.jobsQueueUrl }
    : { dlqUrl: config.alertsDlqUrl, sourceUrl: config.alertsQueueUrl };
}

/** SQS allows at most 10 message attributes per message. */
const MAX_ATTRIBUTES = 10;
/** How long a listed/redriven message stays hidden while we look at it. */
const PEEK_VISIBILITY_SECONDS = 30;
/** Attribute counting how often a message was redriven (shown in logs; a message redriven again and again is a bug). */
export const REDRIVE_COUNT_ATTR = 'redriveCount';

/** Lambda event attributes → SDK attributes (what SendMessage takes). */
export function fromRecordAttributes(attrs: SQSMessageAttributes | undefined): Record<string, MessageAttributeValue> {
  const out: Record<string, MessageAttributeValue> = {};
  for (const [name, v] of Object.entries(attrs ?? {})) {
    if (v.stringValue !== undefined) out[name] = { DataType: v.dataType, StringValue: v.stringValue };
    else if (v.binaryValue !== undefined)
      out[name] = { DataType: v.dataType, BinaryValue: Buffer.from(v.binaryValue, 'base64') };
  }
  return out;
}

/** Keep the first attributes in insertion order within SQS's limit; `first` ones always survive. */
function limitAttributes(first: Record<string, MessageAttributeValue>, rest: Record<string, MessageAttributeValue>) {
  const out: Record<string, MessageAttributeValue> = { ...first };
  for (const [k, v] of Object.entries(rest)) {
    if (Object.keys(out).length >= MAX_ATTRIBUTES) break;
    if (!(k in out)) out[k] = v;
  }
  return out;
}

const s = (v: string): MessageAttributeValue => ({ DataType: 'String', StringValue: v });

export interface DeadLetterInput {
  dlqUrl: string;
  sourceQueue: string;
  body: string;
  attributes: Record<string, MessageAttributeValue>;
  reason: string;
  receiveCount: number;
  now: number;
}

/**
 * Send a message to its DLQ with the reason it failed. Used by consumers on a message's last allowed receive,
 * so the reason travels with it (a message SQS moves by itself carries none). The caller deletes the original
 * only after this resolved; if it throws, the queue's redrive policy is the safety net.
 */
export async function sendToDeadLetterQueue(d: DeadLetterInput): Promise<void> {
  const failure = {
    [DLQ_ATTR.reason]: s(d.reason.slice(0, 1024) || 'unknown'),
    [DLQ_ATTR.receiveCount]: { DataType: 'Number', StringValue: String(d.receiveCount) },
    [DLQ_ATTR.failedAt]: s(new Date(d.now).toISOString()),
    [DLQ_ATTR.sourceQueue]: s(d.sourceQueue.split('/').pop() ?? d.sourceQueue),
  };
  await sqsClient().send(
    new SendMessageCommand({
      QueueUrl: d.dlqUrl,
      MessageBody: d.body || '(empty body)',
      MessageAttributes: limitAttributes(failure, d.attributes),
    }),
  );
}

export async function queueDepth(queueUrl: string): Promise<{ visible: number; inFlight: number; delayed: number }> {
  const { Attributes = {} } = await sqsClient().send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

function attributesOf(m: Message): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(m.MessageAttributes ?? {})) out[k] = v.StringValue;
  return out;
}

function deadLetterOf(m: Message): DeadLetter {
  return toDeadLetter({
    messageId: m.MessageId!,
    body: m.Body,
    attributes: attributesOf(m),
    dlqReceiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 0) || undefined,
    sentTimestamp: m.Attributes?.SentTimestamp ? Number(m.Attributes.SentTimestamp) : undefined,
  });
}

/**
 * Walk the queue once: receive batches (each message hidden for a short while so it is not seen twice) until the
 * queue answers empty or `max` distinct messages were seen. `visit` decides per message; whatever it does not
 * consume is made visible again at the end.
 */
async function walk(
  queueUrl: string,
  max: number,
  visit: (m: Message) => Promise<'keep' | 'consumed'>,
  done: () => boolean = () => false,
): Promise<void> {
  const release = new Map<string, string>();
  const seen = new Set<string>();
  let emptyReceives = 0;
  try {
    while (seen.size < max && emptyReceives < 2 && !done()) {
      const { Messages = [] } = await sqsClient().send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(10, max - seen.size),
          VisibilityTimeout: PEEK_VISIBILITY_SECONDS,
          // Short polling samples only some SQS hosts; the second look long-polls for a second to see them all.
          WaitTimeSeconds: emptyReceives === 0 ? 0 : 1,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
        }),
      );
      const fresh = Messages.filter((m) => !seen.has(m.MessageId!));
      // Re-received messages (their peek visibility ran out during a slow walk) only refresh their handle.
      for (const m of Messages) if (release.has(m.MessageId!)) release.set(m.MessageId!, m.ReceiptHandle!);
      if (fresh.length === 0) {
        emptyReceives++;
        continue;
      }
      emptyReceives = 0;
      for (const m of fresh) {
        seen.add(m.MessageId!);
        if ((await visit(m)) === 'keep') release.set(m.MessageId!, m.ReceiptHandle!);
      }
    }
  } finally {
    await makeVisible(queueUrl, [...release.values()]);
  }
}

async function makeVisible(queueUrl: string, receiptHandles: string[]): Promise<void> {
  for (let i = 0; i < receiptHandles.length; i += 10) {
    const chunk = receiptHandles.slice(i, i + 10);
    // Best effort: a handle that expired already means the message is visible anyway.
    await sqsClient()
      .send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((ReceiptHandle, j) => ({ Id: String(j), ReceiptHandle, VisibilityTimeout: 0 })),
        }),
      )
      .catch(() => undefined);
  }
}

export interface DeadLetterListing {
  queue: DlqName;
  depth: number;
  groups: DeadLetterGroup[];
  messages: DeadLetter[];
}

export async function listDeadLetters(queue: DlqName, max: number): Promise<DeadLetterListing> {
  const { dlqUrl } = queuesOf(queue);
  const messages: DeadLetter[] = [];
  await walk(dlqUrl, max, (m) => {
    messages.push(deadLetterOf(m));
    return Promise.resolve('keep');
  });
  const depth = await queueDepth(dlqUrl);
  return {
    queue,
    depth: Math.max(depth.visible + depth.inFlight, messages.length),
    groups: groupDeadLetters(messages),
    messages,
  };
}

export interface RedriveOptions {
  queue: DlqName;
  filter?: string;
  dryRun: boolean;
  ratePerSecond: number;
  max: number;
  /** Stop (leaving the rest in the DLQ) once the clock passes this epoch ms: the caller repeats for more. */
  deadline?: number;
  /** Injected for tests; defaults to real time. */
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface RedriveResult {
  dryRun: boolean;
  matched: number;
  redriven: number;
  messages: DeadLetter[];
}

/**
 * Move matching dead letters back to the source queue: send a copy (same body: a job message keeps its job id,
 * the job record and its history are untouched) without the failure attributes, then delete it from the DLQ.
 * Send-then-delete: a crash in between leaves a duplicate, which the dispatcher's idempotency absorbs.
 */
export async function redriveDeadLetters(o: RedriveOptions): Promise<RedriveResult> {
  const { dlqUrl, sourceUrl } = queuesOf(o.queue);
  const clock = o.clock ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const matched: DeadLetter[] = [];
  let redriven = 0;
  const startedAt = clock();
  // Scan further than `max` so a filter can find its matches among unrelated messages, but not without bound.
  const scanLimit = Math.min(100_000, o.max * 10);
  const enough = () => matched.length >= o.max || (o.deadline !== undefined && clock() >= o.deadline);
  await walk(
    dlqUrl,
    scanLimit,
    async (m) => {
      if (enough()) return 'keep';
      const letter = deadLetterOf(m);
      if (!matchesFilter(letter, o.filter)) return 'keep';
      matched.push(letter);
      if (o.dryRun) return 'keep';
      const sendAt = nextSendAt(startedAt, redriven, o.ratePerSecond);
      if (o.deadline !== undefined && sendAt > o.deadline) {
        matched.pop();
        return 'keep';
      }
      const wait = sendAt - clock();
      if (wait > 0) await sleep(wait);
      const attributes: Record<string, MessageAttributeValue> = {};
      for (const [k, v] of Object.entries(m.MessageAttributes ?? {}))
        if (!FAILURE_ATTRIBUTES.includes(k) && k !== REDRIVE_COUNT_ATTR) attributes[k] = v;
      const count = Number(m.MessageAttributes?.[REDRIVE_COUNT_ATTR]?.StringValue ?? 0) + 1;
      await sqsClient().send(
        new SendMessageCommand({
          QueueUrl: sourceUrl,
          MessageBody: m.Body ?? '',
          MessageAttributes: limitAttributes(
            { [REDRIVE_COUNT_ATTR]: { DataType: 'Number', StringValue: String(count) } },
            attributes,
          ),
        }),
      );
      await sqsClient().send(new DeleteMessageCommand({ QueueUrl: dlqUrl, ReceiptHandle: m.ReceiptHandle! }));
      redriven++;
      return 'consumed';
    },
    enough,
  );
  return { dryRun: o.dryRun, matched: matched.length, redriven, messages: matched };
}
