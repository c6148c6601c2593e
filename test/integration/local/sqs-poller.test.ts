import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSBatchResponse } from 'aws-lambda';
import { ensureEmulator, type Emulator } from '../../support/moto.js';
import { parseBatchResponse, startSqsPoller, type BatchOutcome } from '../../../local/sqs-poller.js';

let emulator: Emulator;
let sqs: SQSClient;
before(async () => {
  emulator = await ensureEmulator();
  sqs = new SQSClient({});
});
after(async () => {
  sqs.destroy();
  await emulator.stop();
});

/** A queue with a 1 s visibility timeout and a DLQ after `maxReceiveCount` receives. */
async function queuePair(maxReceiveCount: number) {
  const p = `poll${randomBytes(4).toString('hex')}`;
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${p}-dlq` }));
  const dlqArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }))
  ).Attributes!.QueueArn!;
  const q = await sqs.send(
    new CreateQueueCommand({
      QueueName: p,
      Attributes: {
        VisibilityTimeout: '1',
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount }),
      },
    }),
  );
  const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: q.QueueUrl, AttributeNames: ['QueueArn'] })))
    .Attributes!.QueueArn!;
  return { url: q.QueueUrl!, arn, dlqUrl: dlq.QueueUrl! };
}

async function drainQueue(url: string) {
  const { Messages } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ['All'],
    }),
  );
  return Messages ?? [];
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('records look like Lambda SQS events; partial failures are redelivered and dead-lettered after maxReceiveCount', async () => {
  const q = await queuePair(2);
  const seen: SQSEvent['Records'] = [];
  const outcomes: BatchOutcome[] = [];
  await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: q.url,
      Entries: [
        {
          Id: 'a',
          MessageBody: 'good-1',
          MessageAttributes: {
            correlationId: { DataType: 'String', StringValue: 'corr-a' },
            blob: { DataType: 'Binary', BinaryValue: new Uint8Array([7, 8]) },
          },
        },
        { Id: 'b', MessageBody: 'poison' },
        { Id: 'c', MessageBody: 'good-2' },
      ],
    }),
  );
  const poller = startSqsPoller({
    queueUrl: q.url,
    functionName: 'test-consumer',
    waitTimeSeconds: 1,
    handler: async (event: SQSEvent): Promise<SQSBatchResponse> => {
      seen.push(...event.Records);
      return {
        batchItemFailures: event.Records.filter((r) => r.body === 'poison').map((r) => ({
          itemIdentifier: r.messageId,
        })),
      };
    },
    onBatch: (o) => outcomes.push(o),
  });
  try {
    // Poison: received once, redelivered after the 1 s visibility timeout, then SQS moves it to the DLQ.
    await until(
      () => seen.filter((r) => r.body === 'poison').length >= 2,
      10_000,
      'the poison message to be redelivered',
    );
    let dead: Awaited<ReturnType<typeof drainQueue>> = [];
    await until(
      async () => {
        dead = await drainQueue(q.dlqUrl);
        return dead.length === 1;
      },
      10_000,
      'the poison message in the DLQ',
    );
    assert.equal(dead[0]!.Body, 'poison');
  } finally {
    await poller.stop();
  }

  const good = seen.filter((r) => r.body.startsWith('good'));
  assert.equal(good.length, 2, 'successful messages were deleted and never redelivered');
  const poisonCounts = seen.filter((r) => r.body === 'poison').map((r) => r.attributes.ApproximateReceiveCount);
  assert.deepEqual(poisonCounts, ['1', '2']);
  const a = seen.find((r) => r.body === 'good-1')!;
  assert.equal(a.eventSource, 'aws:sqs');
  assert.equal(a.eventSourceARN, q.arn);
  assert.equal(a.awsRegion, q.arn.split(':')[3]);
  assert.ok(a.receiptHandle && a.messageId && a.md5OfBody);
  assert.ok(Number(a.attributes.SentTimestamp) > 0);
  assert.deepEqual(a.messageAttributes.correlationId, {
    dataType: 'String',
    stringValue: 'corr-a',
    stringListValues: [],
    binaryListValues: [],
  });
  assert.equal(a.messageAttributes.blob!.binaryValue, Buffer.from([7, 8]).toString('base64'));
  assert.ok(outcomes.some((o) => o.failed === 1 && o.succeeded >= 1 && !o.wholeBatchFailure));
  assert.equal(poller.stats.succeeded, 2);
  assert.equal(poller.stats.failed, 2);
  assert.deepEqual(await drainQueue(q.url), [], 'nothing left on the source queue');
});

test('a throwing handler fails the whole batch: every message comes back', async () => {
  const q = await queuePair(5);
  await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: q.url,
      Entries: [
        { Id: '1', MessageBody: 'x' },
        { Id: '2', MessageBody: 'y' },
      ],
    }),
  );
  let calls = 0;
  const bodies: string[] = [];
  const outcomes: BatchOutcome[] = [];
  const poller = startSqsPoller({
    queueUrl: q.url,
    functionName: 'thrower',
    waitTimeSeconds: 1,
    handler: async (event: SQSEvent) => {
      calls++;
      bodies.push(...event.Records.map((r) => r.body));
      if (calls === 1) throw new Error('boom');
      return {};
    },
    onBatch: (o) => outcomes.push(o),
  });
  try {
    await until(
      () => bodies.filter((b) => b === 'x').length === 2 && bodies.filter((b) => b === 'y').length === 2,
      10_000,
      'both messages to be redelivered',
    );
  } finally {
    await poller.stop();
  }
  assert.equal(outcomes[0]!.wholeBatchFailure, 'throw');
  assert.equal(outcomes[0]!.error, 'boom');
  assert.deepEqual(await drainQueue(q.url), []);
});

test('batchItemFailures with an unknown identifier fails the whole batch, as Lambda does', () => {
  const ids = new Set(['m1', 'm2']);
  assert.deepEqual(parseBatchResponse({ batchItemFailures: [{ itemIdentifier: 'm2' }] }, ids), new Set(['m2']));
  assert.equal(parseBatchResponse({ batchItemFailures: [{ itemIdentifier: 'nope' }] }, ids), 'invalid');
  assert.equal(parseBatchResponse({ batchItemFailures: [{ itemIdentifier: '' }] }, ids), 'invalid');
  assert.equal(parseBatchResponse({ batchItemFailures: 'm1' }, ids), 'invalid');
  assert.deepEqual(parseBatchResponse(undefined, ids), new Set());
  assert.deepEqual(parseBatchResponse({ batchItemFailures: [] }, ids), new Set());
});

test('batches respect batchSize; stop() ends a long poll promptly and waits for the batch in flight', async () => {
  const q = await queuePair(5);
  await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: q.url,
      Entries: Array.from({ length: 7 }, (_, i) => ({ Id: String(i), MessageBody: `m${i}` })),
    }),
  );
  const sizes: number[] = [];
  let finished = 0;
  const poller = startSqsPoller({
    queueUrl: q.url,
    functionName: 'sized',
    batchSize: 3,
    waitTimeSeconds: 20,
    handler: async (event: SQSEvent) => {
      sizes.push(event.Records.length);
      await new Promise((r) => setTimeout(r, 100));
      finished += event.Records.length;
    },
  });
  await until(() => finished === 7, 10_000, 'all 7 messages');
  assert.ok(
    sizes.every((s) => s <= 3),
    `batch sizes ${sizes}`,
  );
  // Now the poller is parked in a 20 s long poll: stop must not wait for it.
  await sqs.send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: 'late' }));
  const t0 = Date.now();
  await poller.stop();
  assert.ok(Date.now() - t0 < 3000, `stop took ${Date.now() - t0} ms`);
  assert.equal(poller.stats.succeeded >= 7, true);
});
