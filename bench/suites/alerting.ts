/**
 * Health evaluation and alerting, against a moto_server of its own and the local HTTP Slack stand-in:
 *  1. Time from a failing report to its alert arriving at the Slack receiver, the whole chain in-process:
 *     device-api handler (report stored, evaluateDevice) → alert record and its cause's group window → the group
 *     flush (the evaluator's, run here at once with the clock moved past group_wait: the wait itself, 60 s in
 *     production, is policy, not cost) → SNS publish (moto) → moto delivers to the alerts queue → an event-source
 *     poller (1 s long poll) → the real slack-forwarder → HTTP POST to the receiver. Each failing device is
 *     alone in its window (flushed before the next one fails), so its message reads as its own alert.
 *     Baseline, same run: the bare plumbing — SNS publish of a ready-made event → the same queue and poller →
 *     one HTTP POST of a fixed body — so the ratio is what Fleetmedic's own code adds.
 *  2. The evaluator's DynamoDB cost for 10,000 devices of which 1 % are offline: the liveness Query over the
 *     liveness partitions (one per partition, adapters/liveness-repo.ts) against a full-table Scan doing the same job, both counted by an
 *     SDK middleware on the handlers' own client in the same run: calls, items read (ScannedCount: what DynamoDB
 *     charges for) and read units estimated from the items' sizes (eventually consistent: 0.5 RCU per 4 KB, per
 *     request). moto reports a flat ConsumedCapacity per call, so its figure would say nothing.
 *     A third row gives the whole scheduled run (marking 100 devices offline, markers, alert records, group).
 */
import { randomBytes } from 'node:crypto';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { BenchRow } from '../run.js';

const SUITE = 'alerting';
const LATENCY_RUNS = Number(process.env.BENCH_ALERT_RUNS ?? 10);
const DEVICES = Number(process.env.BENCH_EVAL_DEVICES ?? 10_000);
const OFFLINE_SHARE = 0.01;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const ms = (n: number) => `${Math.round(n)} ms`;

export async function run(): Promise<BenchRow[]> {
  const savedEnv = { ...process.env };
  process.env.POWERTOOLS_LOG_LEVEL = 'CRITICAL';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const { startMoto, applyAwsTestEnv } = await import('../../local/moto.js');
  const moto = await startMoto();
  applyAwsTestEnv(moto.endpoint);
  const { startSlackReceiver } = await import('../../local/slack-receiver.js');
  const slack = await startSlackReceiver({ print: null });
  try {
    const { provision } = await import('../../local/provision.js');
    const aws = await import('../../functions/lib/aws.js');
    Object.assign(process.env, await provision(`ba${randomBytes(3).toString('hex')}`), {
      OPERATOR_AUTH: 'iam',
      OFFLINE_AFTER_SECONDS: '90',
    });
    aws.resetClients();
    const { createWebhookSecret, useWebhookSecret } = await import('../../test/support/alerting.js');
    useWebhookSecret(await createWebhookSecret(slack.url));
    const rows: BenchRow[] = [];
    rows.push(...(await reportToSlack(slack)));
    rows.push(...(await evaluatorCost()));
    return rows;
  } finally {
    await slack.close();
    await moto.stop();
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    Object.assign(process.env, savedEnv);
  }
}

// ---------------------------------------------------------------- 1. failing report → Slack

async function reportToSlack(
  slack: Awaited<ReturnType<typeof import('../../local/slack-receiver.js')['startSlackReceiver']>>,
): Promise<BenchRow[]> {
  const { handler: operatorApi } = await import('../../functions/handlers/operator-api.js');
  const { handler: deviceApi } = await import('../../functions/handlers/device-api.js');
  const { handler: forwarder } = await import('../../functions/handlers/slack-forwarder.js');
  const { invoke } = await import('../../test/support/apigw.js');
  const { startSqsPoller } = await import('../../local/sqs-poller.js');
  const { toAlertEvent } = await import('../../functions/domain/alerting/event.js');
  const { alertPolicy, flushAlertGroups } = await import('../../functions/services/alert-groups.js');
  const iam = { userArn: 'arn:aws:iam::123456789012:user/bench' };
  const sns = new SNSClient({});
  const queueUrl = process.env.ALERTS_QUEUE_URL!;

  // The forwarder's event source mapping: long polls like Lambda's (1 s here so stopping is quick).
  let mode: 'chain' | 'bare' = 'chain';
  const bare = async (event: { Records: { body: string }[] }) => {
    for (const r of event.Records)
      await fetch(slack.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: JSON.parse(JSON.parse(r.body).Message).summary }),
      });
    return { batchItemFailures: [] };
  };
  const poller = startSqsPoller({
    queueUrl,
    functionName: 'slack-forwarder',
    waitTimeSeconds: 1,
    handler: (e, c) => (mode === 'chain' ? forwarder(e, c) : bare(e)),
  });

  const iso = (t = Date.now()) => new Date(t).toISOString();
  const running = { name: 'nodered', image: 'lab/nodered:1', status: 'running' };
  const chain: number[] = [];
  const plumbing: number[] = [];
  try {
    for (let i = 0; i <= LATENCY_RUNS; i++) {
      const warm = i === 0;
      const id = `bench-alert-${i}`;
      const reg = await invoke(operatorApi as never, {
        method: 'POST',
        path: '/v1/devices',
        iam,
        body: { deviceId: id },
      });
      if (reg.status !== 201) throw new Error(`register: ${reg.status} ${reg.raw}`);
      const token = reg.body.token as string;
      const post = (seq: number, services: unknown[]) =>
        invoke(deviceApi as never, {
          method: 'POST',
          path: `/v1/devices/${id}/reports`,
          token,
          body: { deviceId: id, seq, kind: 'full', agentVersion: '1.0.0', uptimeSeconds: seq, sentAt: iso(), services },
        });
      await post(1, [running]);
      // A failure a restart cannot fix (image gone): manual intervention, alerted once group_wait has passed.
      const failing = {
        ...running,
        image: 'lab/nodered:missing',
        status: 'error',
        error: {
          type: 'ImagePullBackOff',
          message: `manifest unknown (${id})`,
          timestamp: iso(),
          retryCount: 1,
          nextRetry: iso(Date.now() + 10_000),
          permanent: true,
        },
      };
      mode = 'chain';
      const t0 = performance.now();
      const res = await post(2, [failing]);
      if (res.status !== 200) throw new Error(`report: ${res.status} ${res.raw}`);
      await flushAlertGroups({ now: Date.now() + alertPolicy().groupWaitMs });
      await slack.waitFor((m) => m.text.includes(`manifest unknown (${id})`), 30_000);
      if (!warm) chain.push(performance.now() - t0);

      mode = 'bare';
      const event = toAlertEvent(
        { alertName: 'RecoveryFailed', level: 2, summary: `bare ${id}`, since: Date.now() },
        { notificationId: `bare-${id}`, now: Date.now() },
      );
      const t1 = performance.now();
      await sns.send(new PublishCommand({ TopicArn: process.env.ALERT_TOPIC_ARN!, Message: JSON.stringify(event) }));
      await slack.waitFor((m) => m.text === `bare ${id}`, 30_000);
      if (!warm) plumbing.push(performance.now() - t1);
    }
  } finally {
    await poller.stop();
    sns.destroy();
  }
  const c50 = median(chain);
  const b50 = median(plumbing);
  return [
    {
      suite: SUITE,
      metric: `failing report → Slack receiver (without group_wait), p50 (p95) over ${LATENCY_RUNS}`,
      value: `${ms(c50)} (${ms(pct(chain, 95))})`,
      baseline: `bare SNS→SQS→poller→POST ${ms(b50)} (${ms(pct(plumbing, 95))})`,
      ratio: `${(c50 / b50).toFixed(2)}×`,
    },
  ];
}

// ---------------------------------------------------------------- 2. evaluator read cost

interface ReadCounts {
  calls: number;
  items: number;
  rcu: number;
}

async function evaluatorCost(): Promise<BenchRow[]> {
  const { documentClient, dynamo } = await import('../../functions/lib/aws.js');
  const { livenessPartition } = await import('../../functions/domain/shards.js');
  const { findQuietDevices, evaluateFleet } = await import('../../functions/services/offline-detection.js');
  const table = process.env.FLEET_TABLE!;
  const now = Date.now();
  const offlineEvery = Math.round(1 / OFFLINE_SHARE);

  // Seed: META + STATE + liveness item per device (as the API writes them); every 100th device last seen 10 minutes ago.
  const sizes = new Map<string, number>();
  const items: Record<string, unknown>[] = [];
  for (let i = 0; i < DEVICES; i++) {
    const deviceId = `dev-${String(i).padStart(5, '0')}`;
    const pk = `DEVICE#${deviceId}`;
    const lastSeenEpoch = i % offlineEvery === 0 ? now - 10 * 60_000 : now - 20_000;
    const services = Object.fromEntries(
      ['web', 'mqtt', 'db'].map((name) => [
        name,
        {
          name,
          image: `registry.local/lab/${name}:1.4.2`,
          status: 'running',
          restartCount: 0,
          recentRestarts: 0,
          error: null,
          lastHealthCheck: {
            healthy: true,
            kind: 'http',
            checkedAt: new Date(lastSeenEpoch).toISOString(),
            consecutiveFailures: 0,
          },
        },
      ]),
    );
    items.push({
      pk,
      sk: 'META',
      entity: 'device',
      deviceId,
      name: `Device ${i}`,
      labels: { site: `site-${i % 40}` },
      tokenSalt: 'x'.repeat(32),
      tokenHash: 'y'.repeat(64),
      createdAt: new Date(now - 86400_000).toISOString(),
    });
    items.push({ pk: livenessPartition(deviceId), sk: deviceId, lastSeenEpoch });
    items.push({
      pk,
      sk: 'STATE',
      lastSeq: 42,
      lastReportAt: new Date(lastSeenEpoch).toISOString(),
      lastSeenEpoch,
      health: 'healthy',
      agentVersion: '1.0.0',
      uptimeSeconds: 3600,
      services,
      stateHash: 'z'.repeat(32),
    });
  }
  for (const item of items) sizes.set(`${item.pk}|${item.sk}`, itemSize(item));
  const meanSize = [...sizes.values()].reduce((a, b) => a + b, 0) / sizes.size;
  const seedStart = performance.now();
  for (let i = 0; i < items.length; i += 25) {
    let pending: Record<string, unknown>[] | undefined = items
      .slice(i, i + 25)
      .map((Item) => ({ PutRequest: { Item } }));
    while (pending?.length) {
      const res = await documentClient().send(new BatchWriteCommand({ RequestItems: { [table]: pending as never } }));
      pending = res.UnprocessedItems?.[table] as Record<string, unknown>[] | undefined;
    }
  }
  const seedMs = performance.now() - seedStart;

  // Count what the evaluator's own client reads: calls, ScannedCount, and RCU from the items' sizes.
  const counts: ReadCounts = { calls: 0, items: 0, rcu: 0 };
  const name = `bench-alerting-${randomBytes(3).toString('hex')}`;
  dynamo().middlewareStack.add(
    (next: any, context: any) => async (args: any) => {
      const out = (await next(args)) as {
        output: {
          ScannedCount?: number;
          Items?: Record<string, unknown>[];
          Item?: Record<string, unknown>;
          Count?: number;
        };
      };
      const op = context.commandName;
      if (op === 'QueryCommand' || op === 'ScanCommand' || op === 'GetItemCommand') {
        counts.calls++;
        const o = out.output;
        const read = o.ScannedCount ?? (o.Item ? 1 : (o.Count ?? 0));
        counts.items += read;
        // Size of what the request evaluated (DynamoDB bills the stored item, not the projected attributes):
        // a Scan reads every item, so the table's mean size; a Query/GetItem, the stored size of what it returned.
        const returned = o.Items ?? (o.Item ? [o.Item] : []);
        const known = returned.map((it) => sizes.get(`${attr(it.pk)}|${attr(it.sk) ?? 'STATE'}`) ?? itemSize(it));
        const avg =
          op === 'ScanCommand' || known.length === 0 ? meanSize : known.reduce((a, b) => a + b, 0) / known.length;
        const bytes = read * avg;
        counts.rcu += Math.max(0.5, Math.ceil(bytes / 4096) * 0.5);
      }
      return out as any;
    },
    { step: 'initialize', name },
  );
  const take = () => {
    const c = { ...counts };
    counts.calls = 0;
    counts.items = 0;
    counts.rcu = 0;
    return c;
  };
  try {
    const cutoff = now - 90_000;
    take();
    const found = await findQuietDevices(cutoff, 100_000);
    const query = take();
    if (found.length !== DEVICES / offlineEvery)
      throw new Error(`liveness query found ${found.length} offline devices, expected ${DEVICES / offlineEvery}`);

    // The same job by scanning: every item of the table read, the filter applied after the read (and billed).
    let scanFound = 0;
    let startKey: Record<string, unknown> | undefined;
    do {
      const res = await documentClient().send(
        new ScanCommand({
          TableName: table,
          FilterExpression: 'sk = :state AND lastSeenEpoch < :cutoff',
          ExpressionAttributeValues: { ':state': 'STATE', ':cutoff': cutoff },
          ProjectionExpression: 'pk, lastSeenEpoch',
          ExclusiveStartKey: startKey,
        }),
      );
      scanFound += res.Items?.length ?? 0;
      startKey = res.LastEvaluatedKey;
    } while (startKey);
    const scan = take();
    if (scanFound !== found.length) throw new Error(`scan found ${scanFound}, query ${found.length}`);

    const fleet = await evaluateFleet({ now });
    const whole = take();
    if (fleet.offline.length !== found.length) throw new Error(`evaluator marked ${fleet.offline.length} offline`);

    const fmt = (c: ReadCounts) => `${c.calls} calls, ${c.items} items, ≈${c.rcu} RCU`;
    return [
      {
        suite: SUITE,
        metric: `offline detection, ${DEVICES} devices / ${found.length} offline (liveness Query per shard)`,
        value: fmt(query),
        baseline: `full Scan: ${fmt(scan)}`,
        ratio: `${(query.rcu / scan.rcu).toFixed(4)}× RCU, ${(query.items / scan.items).toFixed(4)}× items`,
      },
      {
        suite: SUITE,
        metric: '  whole scheduled run (query + markers + alerts + marking offline + group)',
        value: fmt(whole),
        baseline: `full Scan: ${fmt(scan)}`,
        ratio: `${(whole.rcu / scan.rcu).toFixed(3)}× RCU`,
      },
      {
        suite: SUITE,
        metric: '  (seeding the table, not measured)',
        value: `${items.length} items in ${Math.round(seedMs / 1000)} s`,
      },
    ];
  } finally {
    dynamo().middlewareStack.remove(name);
  }
}

/** A key attribute as the low-level client returns it (`{S: ...}`). */
const attr = (v: unknown): string | undefined =>
  v && typeof v === 'object' && 'S' in v ? String((v as { S: unknown }).S) : typeof v === 'string' ? v : undefined;

/** DynamoDB item size ≈ attribute names + marshalled values (close enough for the 4 KB read-unit rounding). */
function itemSize(item: Record<string, unknown>): number {
  return Buffer.byteLength(JSON.stringify(marshall(item, { removeUndefinedValues: true })));
}
