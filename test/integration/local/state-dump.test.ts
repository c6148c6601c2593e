import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DynamoDBClient, GetItemCommand, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { createTestInfra } from '../../support/infra.js';
import { provision } from '../../../local/provision.js';
import { dumpState, loadState, readDumpFile, writeDumpFile, countDump } from '../../../local/state-dump.js';
import { startSqsPoller } from '../../../local/sqs-poller.js';

const infra = await createTestInfra();
const dir = mkdtempSync(join(tmpdir(), 'fm-dump-'));
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await infra.close();
});

test('a dump taken on shutdown restores every item and message (even ones hidden by a failed delivery)', async () => {
  const ddb = new DynamoDBClient({});
  const sqs = new SQSClient({});
  const env = infra.env;
  const nowS = Math.floor(Date.now() / 1000);
  await ddb.send(
    new PutItemCommand({
      TableName: env.FLEET_TABLE,
      Item: {
        pk: { S: 'DEVICE#pump-1' },
        sk: { S: 'STATE' },
        lastSeq: { N: '42' },
        blob: { B: new Uint8Array([1, 2, 250]) },
        services: { M: { web: { M: { status: { S: 'running' }, ports: { L: [{ N: '80' }, { NULL: true }] } } } } },
        tags: { SS: ['a', 'b'] },
        expiresAt: { N: String(nowS + 3600) },
      },
    }),
  );
  await ddb.send(
    new PutItemCommand({
      TableName: env.FLEET_TABLE,
      Item: { pk: { S: 'DEVICE#gone' }, sk: { S: 'MARKER#*' }, expiresAt: { N: String(nowS - 10) } },
    }),
  );
  await ddb.send(
    new PutItemCommand({
      TableName: env.JOBS_TABLE,
      Item: { jobId: { S: 'job_AAAAAAAAAAAA' }, status: { S: 'QUEUED' } },
    }),
  );
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: env.JOBS_QUEUE_URL,
      MessageBody: '{"jobId":"job_visible"}',
      MessageAttributes: { correlationId: { DataType: 'String', StringValue: 'c-1' } },
    }),
  );
  await sqs.send(new SendMessageCommand({ QueueUrl: env.JOBS_QUEUE_URL, MessageBody: '{"jobId":"job_failed"}' }));
  await sqs.send(new SendMessageCommand({ QueueUrl: env.ALERTS_DLQ_URL, MessageBody: 'dead alert' }));

  // A consumer fails one message: it is now hidden for the queue's 180 s visibility timeout.
  let sawFailed = false;
  const poller = startSqsPoller({
    queueUrl: env.JOBS_QUEUE_URL!,
    functionName: 'job-dispatcher',
    waitTimeSeconds: 1,
    handler: async (e: SQSEvent) => {
      const failed = e.Records.filter((r) => r.body.includes('job_failed'));
      if (failed.length) sawFailed = true;
      // The visible one fails too, so both stay on the queue.
      return { batchItemFailures: e.Records.map((r) => ({ itemIdentifier: r.messageId })) };
    },
  });
  const deadline = Date.now() + 10_000;
  while (!sawFailed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(sawFailed);
  const released = await poller.stop({ releaseFailed: true });
  assert.equal(released, 2);

  const dump = await dumpState(env);
  const file = join(dir, 'state.json');
  writeDumpFile(file, dump);
  const read = readDumpFile(file)!;
  assert.deepEqual(countDump(read), { items: 3, messages: 3 });

  const fresh = await provision(`r${randomBytes(3).toString('hex')}`);
  const counts = await loadState(read, fresh);
  assert.deepEqual(counts, { items: 2, messages: 3 }, 'the expired marker is not restored');
  const { Item } = await ddb.send(
    new GetItemCommand({ TableName: fresh.FLEET_TABLE, Key: { pk: { S: 'DEVICE#pump-1' }, sk: { S: 'STATE' } } }),
  );
  assert.equal(Item?.lastSeq?.N, '42');
  assert.deepEqual(Buffer.from(Item!.blob!.B!), Buffer.from([1, 2, 250]));
  assert.equal(Item?.services?.M?.web?.M?.ports?.L?.[1]?.NULL, true);
  assert.deepEqual(Item?.tags?.SS?.sort(), ['a', 'b']);
  const jobs = await ddb.send(new ScanCommand({ TableName: fresh.JOBS_TABLE }));
  assert.equal(jobs.Items?.[0]?.jobId?.S, 'job_AAAAAAAAAAAA');
  const { Messages } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: fresh.JOBS_QUEUE_URL,
      MaxNumberOfMessages: 10,
      MessageAttributeNames: ['All'],
    }),
  );
  assert.deepEqual(Messages?.map((m) => m.Body).sort(), ['{"jobId":"job_failed"}', '{"jobId":"job_visible"}']);
  assert.equal(
    Messages?.find((m) => m.Body!.includes('visible'))?.MessageAttributes?.correlationId?.StringValue,
    'c-1',
  );
  const dlq = await sqs.send(new ReceiveMessageCommand({ QueueUrl: fresh.ALERTS_DLQ_URL }));
  assert.equal(dlq.Messages?.[0]?.Body, 'dead alert');
  ddb.destroy();
  sqs.destroy();
});

test('a running fleet snapshots its tables without touching its queues', async () => {
  const ddb = new DynamoDBClient({});
  const sqs = new SQSClient({});
  const env = await provision(`p${randomBytes(3).toString('hex')}`);
  await ddb.send(
    new PutItemCommand({ TableName: env.FLEET_TABLE, Item: { pk: { S: 'DEVICE#snap' }, sk: { S: 'META' } } }),
  );
  await sqs.send(new SendMessageCommand({ QueueUrl: env.JOBS_QUEUE_URL, MessageBody: '{"jobId":"job_kept"}' }));
  const dump = await dumpState(env, undefined, {}, { tablesOnly: true });
  assert.equal(countDump(dump).items, 1);
  assert.deepEqual(dump.queues, {});
  const { Messages } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: env.JOBS_QUEUE_URL,
      WaitTimeSeconds: 1,
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
    }),
  );
  assert.equal(Messages?.[0]?.Body, '{"jobId":"job_kept"}', 'the message is still queued');
  assert.equal(Messages?.[0]?.Attributes?.ApproximateReceiveCount, '1', 'and was never received by the snapshot');
});
