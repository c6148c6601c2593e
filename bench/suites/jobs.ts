/**
 * The job queue, against moto_server (DynamoDB calls serialised, as atomic as on AWS):
 *  1. AWS calls per job from enqueue to SUCCEEDED, counted by middleware on the handlers' own SDK clients
 *     (functions/lib/aws.ts): the enqueue route, the dispatcher, the device's poll and its two status updates.
 *     The event source mapping's own ReceiveMessage/DeleteMessageBatch are Lambda's, listed separately.
 *  2. Dispatcher throughput on 1,000 queued jobs: 5 pollers (as Lambda's ESM starts) receiving batches of 10,
 *     invoking the real handler, deleting what succeeded. Baseline, same run, same messages: the same pollers
 *     only receiving and deleting. The ratio is what dispatching adds over moving the messages at all.
 *     On moto, SQS calls are slow (O(queue) per call, ~100+ ms each with 1,000 messages on a loaded 2-core box),
 *     so the baseline is large and the ratio understates the dispatcher's share compared with AWS; the handler
 *     time per invocation is reported alongside for that reason.
 */
import { randomBytes } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { BenchRow } from '../run.js';

const SUITE = 'jobs';
const CALL_JOBS = 20;
const THROUGHPUT_JOBS = Number(process.env.BENCH_JOBS ?? 1000);
const POLLERS = 5;

type Counts = Map<string, number>;

function countCalls(client: DynamoDBClient | SQSClient, label: string, counts: Counts): () => void {
  const stack = client.middlewareStack as DynamoDBClient['middlewareStack'];
  const name = `bench-jobs-${label}-${randomBytes(3).toString('hex')}`;
  stack.add(
    (next, context) => async (args) => {
      const key = `${label}:${context.commandName}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name },
  );
  return () => stack.remove(name);
}

const total = (c: Counts, label: string) =>
  [...c].filter(([k]) => k.startsWith(`${label}:`)).reduce((s, [, n]) => s + n, 0);
const breakdown = (c: Counts, label: string, per: number) =>
  [...c]
    .filter(([k]) => k.startsWith(`${label}:`))
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k.slice(label.length + 1).replace(/Command$/, '')} ${fmt(n / per)}`)
    .join(', ');
const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));

export async function run(): Promise<BenchRow[]> {
  const savedEnv = { ...process.env };
  // Quiet handlers: a thousand log lines and EMF blobs would bury the table (and cost time being printed).
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const { applyAwsTestEnv, startMoto } = await import('../../local/moto.js');
  const moto = await startMoto({ serialised: true });
  applyAwsTestEnv(moto.endpoint);
  const bench = new SQSClient({});
  try {
    const { provision } = await import('../../local/provision.js');
    const aws = await import('../../functions/lib/aws.js');
    Object.assign(process.env, await provision(`bj${randomBytes(3).toString('hex')}`), { OPERATOR_AUTH: 'iam' });
    aws.resetClients();
    const rows: BenchRow[] = [];
    rows.push(...(await callsPerJob(bench)));
    rows.push(...(await throughput(bench)));
    return rows;
  } finally {
    bench.destroy();
    await moto.stop();
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    Object.assign(process.env, savedEnv);
  }
}

async function callsPerJob(bench: SQSClient): Promise<BenchRow[]> {
  const { dynamo, sqsClient } = await import('../../functions/lib/aws.js');
  const { handler: operatorApi } = await import('../../functions/handlers/operator-api.js');
  const { handler: deviceApi } = await import('../../functions/handlers/device-api.js');
  const { createDispatcher } = await import('../../functions/services/job-dispatch.js');
  const { invoke } = await import('../../test/support/apigw.js');
  const { toRecord } = await import('../../local/sqs-poller.js');
  const { lambdaContext } = await import('../../local/lambda-context.js');
  const iam = { userArn: 'arn:aws:iam::123456789012:user/bench' };
  const queueUrl = process.env.JOBS_QUEUE_URL!;
  const dispatcher = createDispatcher();

  const reg = await invoke(operatorApi as never, {
    method: 'POST',
    path: '/v1/devices',
    iam,
    body: { deviceId: 'bench-calls' },
  });
  if (reg.status !== 201) throw new Error(`register: ${reg.status} ${reg.raw}`);
  const token = reg.body.token as string;
  // Warm up (cold-start reads such as the queue's redrive policy are not per-job costs).
  await invoke(operatorApi as never, { method: 'GET', path: '/v1/health' });

  const phases = { enqueue: new Map() as Counts, dispatch: new Map() as Counts, device: new Map() as Counts };
  let esmCalls = 0;
  for (let i = 0; i < CALL_JOBS + 1; i++) {
    const warm = i === 0;
    const measure = async <T>(counts: Counts, fn: () => Promise<T>): Promise<T> => {
      const target = warm ? new Map() : counts;
      const stops = [countCalls(dynamo(), 'DynamoDB', target), countCalls(sqsClient(), 'SQS', target)];
      try {
        return await fn();
      } finally {
        for (const s of stops) s();
      }
    };
    const enq = await measure(phases.enqueue, () =>
      invoke(operatorApi as never, {
        method: 'POST',
        path: '/v1/devices/bench-calls/jobs',
        iam,
        body: { type: 'restart-service', params: { service: 'web' } },
      }),
    );
    if (enq.status !== 202) throw new Error(`enqueue: ${enq.status} ${enq.raw}`);
    const jobId = enq.body.jobId as string;
    const { Messages = [] } = await bench.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 2,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
      }),
    );
    if (Messages.length !== 1) throw new Error(`expected the job's message, got ${Messages.length}`);
    const res = (await measure(phases.dispatch, () =>
      dispatcher(
        { Records: Messages.map((m) => toRecord(m, 'arn:aws:sqs:us-east-1:123456789012:jobs')) },
        lambdaContext('job-dispatcher', 30_000),
      ),
    )) as { batchItemFailures: unknown[] };
    if (res.batchItemFailures.length) throw new Error('dispatch failed');
    await bench.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: Messages.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
    if (!warm) esmCalls += 2;
    await measure(phases.device, async () => {
      const pending = await invoke(deviceApi as never, {
        method: 'GET',
        path: '/v1/devices/bench-calls/jobs/pending',
        token,
      });
      const job = (pending.body.jobs as { jobId: string; version: number }[]).find((j) => j.jobId === jobId);
      if (!job) throw new Error('job not pending on the device');
      const started = await invoke(deviceApi as never, {
        method: 'PUT',
        path: `/v1/devices/bench-calls/jobs/${jobId}`,
        token,
        body: { status: 'IN_PROGRESS', expectedVersion: job.version },
      });
      const done = await invoke(deviceApi as never, {
        method: 'PUT',
        path: `/v1/devices/bench-calls/jobs/${jobId}`,
        token,
        body: { status: 'SUCCEEDED', expectedVersion: started.body.version },
      });
      if (done.status !== 200) throw new Error(`SUCCEEDED: ${done.status} ${done.raw}`);
    });
  }

  const all: Counts = new Map();
  for (const c of Object.values(phases)) for (const [k, n] of c) all.set(k, (all.get(k) ?? 0) + n);
  const perPhase = (label: string) =>
    Object.entries(phases)
      .map(([p, c]) => `${p} ${fmt(total(c, label) / CALL_JOBS)}`)
      .join(', ');
  return [
    {
      suite: SUITE,
      metric: 'DynamoDB calls per job, enqueue→SUCCEEDED',
      value: fmt(total(all, 'DynamoDB') / CALL_JOBS),
      baseline: perPhase('DynamoDB'),
    },
    { suite: SUITE, metric: '  by operation', value: breakdown(all, 'DynamoDB', CALL_JOBS) },
    {
      suite: SUITE,
      metric: 'SQS calls per job (handlers)',
      value: fmt(total(all, 'SQS') / CALL_JOBS),
      baseline: perPhase('SQS'),
    },
    {
      suite: SUITE,
      metric: 'SQS calls per job (Lambda ESM, batch of 1)',
      value: fmt(esmCalls / CALL_JOBS),
      baseline: 'ReceiveMessage + DeleteMessageBatch',
    },
  ];
}

async function throughput(bench: SQSClient): Promise<BenchRow[]> {
  const { createJob } = await import('../../functions/adapters/jobs-repo.js');
  const { newJob } = await import('../../functions/domain/job-lifecycle.js');
  const { createDispatcher } = await import('../../functions/services/job-dispatch.js');
  const { toRecord } = await import('../../local/sqs-poller.js');
  const { lambdaContext } = await import('../../local/lambda-context.js');
  const queueUrl = process.env.JOBS_QUEUE_URL!;
  const now = Date.now();
  const jobs = Array.from({ length: THROUGHPUT_JOBS }, (_, i) =>
    newJob({
      jobId: `job_BENCH${String(i).padStart(10, '0')}`,
      deviceId: `bench-${String(i % 50).padStart(2, '0')}`,
      type: 'restart-service',
      params: { service: 'web' },
      correlationId: `bench-${i}`,
      by: 'bench',
      now,
    }),
  );
  for (let i = 0; i < jobs.length; i += 25) await Promise.all(jobs.slice(i, i + 25).map((j) => createJob(j)));
  const bodies = jobs.map((j) =>
    JSON.stringify({ jobId: j.jobId, deviceId: j.deviceId, type: j.type, correlationId: j.correlationId, attempt: 1 }),
  );
  const send = async () => {
    for (let i = 0; i < bodies.length; i += 100) {
      await Promise.all(
        Array.from({ length: 10 }, (_, k) => bodies.slice(i + k * 10, i + k * 10 + 10))
          .filter((b) => b.length)
          .map((chunk) =>
            bench.send(
              new SendMessageBatchCommand({
                QueueUrl: queueUrl,
                Entries: chunk.map((MessageBody, j) => ({ Id: String(j), MessageBody })),
              }),
            ),
          ),
      );
    }
  };

  /** POLLERS loops of receive(10) → handle → delete, until `target` messages were acknowledged. */
  const pump = async (handle: (messages: Message[]) => Promise<Set<string>>): Promise<number> => {
    let acked = 0;
    const deadline = Date.now() + 300_000;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: POLLERS }, async () => {
        while (acked < THROUGHPUT_JOBS && Date.now() < deadline) {
          // Short polls: the queue is full, and moto's long poll sleeps in steps (Lambda's ESM long-polls on AWS).
          const { Messages = [] } = await bench.send(
            new ReceiveMessageCommand({
              QueueUrl: queueUrl,
              MaxNumberOfMessages: 10,
              WaitTimeSeconds: 0,
              MessageAttributeNames: ['All'],
              MessageSystemAttributeNames: ['All'],
            }),
          );
          if (!Messages.length) {
            await new Promise((r) => setTimeout(r, 100));
            continue;
          }
          const failed = await handle(Messages);
          const done = Messages.filter((m) => !failed.has(m.MessageId!));
          if (done.length)
            await bench.send(
              new DeleteMessageBatchCommand({
                QueueUrl: queueUrl,
                Entries: done.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })),
              }),
            );
          acked += done.length;
        }
      }),
    );
    if (acked < THROUGHPUT_JOBS)
      throw new Error(`only ${acked}/${THROUGHPUT_JOBS} messages acknowledged within 5 minutes`);
    return (performance.now() - started) / 1000;
  };

  await send();
  const baselineSeconds = await pump(async () => new Set());
  await send();
  const dispatcher = createDispatcher();
  const arn = 'arn:aws:sqs:us-east-1:123456789012:jobs';
  let handlerMs = 0;
  let batches = 0;
  const dispatchSeconds = await pump(async (messages) => {
    const t = performance.now();
    const res = (await dispatcher(
      { Records: messages.map((m) => toRecord(m, arn)) },
      lambdaContext('job-dispatcher', 60_000),
    )) as { batchItemFailures: { itemIdentifier: string }[] };
    handlerMs += performance.now() - t;
    batches++;
    return new Set(res.batchItemFailures.map((f) => f.itemIdentifier));
  });

  // Every job really got dispatched (spot check across the range).
  const { getJob } = await import('../../functions/adapters/jobs-repo.js');
  const sample = await Promise.all(
    [0, 1, 249, 500, 777, THROUGHPUT_JOBS - 1].filter((i) => i < THROUGHPUT_JOBS).map((i) => getJob(jobs[i]!.jobId)),
  );
  const dispatched = sample.every((j) => j?.pendingDeviceId === j?.deviceId);
  const rate = (s: number) => `${fmt(Math.round(THROUGHPUT_JOBS / s))} msg/s`;
  return [
    {
      suite: SUITE,
      metric: `dispatcher throughput, ${THROUGHPUT_JOBS} jobs (${POLLERS} pollers × batches of 10)`,
      value: `${rate(dispatchSeconds)} (${dispatchSeconds.toFixed(1)} s)`,
      baseline: `${rate(baselineSeconds)} receive+delete only (${baselineSeconds.toFixed(1)} s)`,
      ratio: `${(dispatchSeconds / baselineSeconds).toFixed(1)}× the time`,
      ok: dispatched,
    },
    {
      suite: SUITE,
      metric: '  handler time per batch (records in parallel)',
      value: `${(handlerMs / batches).toFixed(0)} ms per invocation, ${batches} invocations`,
      baseline: '5 DynamoDB calls per record',
    },
  ];
}
