/**
 * The local fleet under device load:
 *  1. Sustained device reports per second and p50/p99 latency, from ONE autocannon process (a child process)
 *     for 1,000 registered devices sending heartbeats through the local API gateway to the real device-api
 *     handler on moto. Baseline: the same load generator on the public health route through the same gateway.
 *  2. The device-api handler's own CPU time per report: sequential in-process invocations (no overlap, so the
 *     process CPU delta is the handler's alone; moto runs in another process). Baseline: the health handler.
 *  3. DynamoDB write units per device per hour at the default 60 s heartbeat when nothing changes: every accepted
 *     report stores its sign of life in the 1-WCU liveness item and nothing else (docs/architecture.md "Liveness"),
 *     against writing the state item on every heartbeat, both counted by the same SDK middleware in the same run.
 *     Time is compressed 60×: a heartbeat a second. (The whole fleet over time: bench/suites/fleet-sim.ts.)
 *
 * A little over the ~400 lines a file keeps to: the three measurements share one fleet and its registered
 * devices, set up once.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { BenchRow } from '../run.js';
import { applyAwsTestEnv, startMoto } from '../../local/moto.js';
import { startFleet, type Fleet } from '../../local/fleet.js';
import { newOperatorToken } from '../../local/secrets.js';
import { buildHttpApiEvent } from '../../local/apigw-event.js';
import { lambdaContext, type LocalHandler } from '../../local/lambda-context.js';
import { handlersFromDirectory } from '../../local/handlers.js';
import { documentClient, dynamo } from '../../functions/lib/aws.js';
import { itemSize } from '../fleet-sim/dynamo-units.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const DEVICES = Number(process.env.BENCH_FLEET_DEVICES ?? 1000);
const LOAD_SECONDS = Number(process.env.BENCH_FLEET_SECONDS ?? 15);
const CONNECTIONS = Number(process.env.BENCH_FLEET_CONNECTIONS ?? 10);
const CPU_CALLS = 300;
const WCU_DEVICES = 20;
const WCU_HEARTBEATS = 40; // per device, one per (compressed) 60 s
const SUITE = 'fleet';
const progress = (m: string) => process.stderr.write(`[bench fleet] ${m}\n`);

const services = [
  { name: 'web', image: 'registry.local/lab/busybox:1', status: 'running', restartCount: 0, lastHealthCheck: null },
  { name: 'worker', image: 'registry.local/lab/busybox:2', status: 'running', restartCount: 1 },
];
const report = (deviceId: string, seq: number) => ({
  deviceId,
  seq,
  kind: 'full',
  agentVersion: '0.1.0',
  uptimeSeconds: 1000 + seq,
  sentAt: new Date().toISOString(),
  services,
});

export async function run(): Promise<BenchRow[]> {
  const savedEnv = { ...process.env };
  const moto = await startMoto({ serialised: true });
  applyAwsTestEnv(moto.endpoint);
  process.env.AWS_ENDPOINT_URL = moto.endpoint;
  const dir = mkdtempSync(join(tmpdir(), 'fm-bench-fleet-'));
  let fleet: Fleet | undefined;
  try {
    fleet = await startFleet({
      prefix: `bench${randomBytes(3).toString('hex')}`,
      operatorToken: newOperatorToken(),
      slackPrint: null,
      scheduleSeconds: 3600,
      pollWaitSeconds: 1,
      log: () => {},
    });
    progress(`fleet up at ${fleet.apiUrl}; registering ${DEVICES} devices`);
    const tokens = await registerDevices(fleet, DEVICES);
    progress('load');
    const rows: BenchRow[] = [];
    rows.push(...(await loadRows(fleet, tokens, dir)));
    progress('cpu');
    rows.push(...(await cpuRows(fleet, tokens)));
    progress('write units');
    rows.push(...(await writeUnitRows(fleet)));
    return rows;
  } finally {
    await fleet?.close();
    await moto.stop();
    rmSync(dir, { recursive: true, force: true });
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    Object.assign(process.env, savedEnv);
  }
}

async function registerDevices(fleet: Fleet, n: number): Promise<{ deviceId: string; token: string }[]> {
  const out: { deviceId: string; token: string }[] = [];
  const ids = Array.from({ length: n }, (_, i) => `dev-${String(i).padStart(4, '0')}`);
  for (let i = 0; i < ids.length; i += 20) {
    const batch = await Promise.all(
      ids.slice(i, i + 20).map(async (deviceId) => {
        const res = await fetch(`${fleet.apiUrl}/v1/devices`, {
          method: 'POST',
          headers: { authorization: `Bearer ${fleet.operatorToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ deviceId }),
        });
        if (res.status !== 201) throw new Error(`registering ${deviceId}: ${res.status} ${await res.text()}`);
        return { deviceId, token: ((await res.json()) as { token: string }).token };
      }),
    );
    out.push(...batch);
  }
  return out;
}

/** The load generator: autocannon in its own process, round-robin over the devices, increasing seq per device. */
const LOADGEN = `
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
const cfg = JSON.parse(readFileSync(process.argv[1], 'utf8'));
let i = 0;
const seqs = new Map();
const requests = cfg.devices
  ? [{
      method: 'POST',
      setupRequest(req) {
        const d = cfg.devices[i++ % cfg.devices.length];
        const seq = (seqs.get(d.deviceId) ?? 1) + 1;
        seqs.set(d.deviceId, seq);
        const body = { ...cfg.template, deviceId: d.deviceId, seq, uptimeSeconds: 1000 + seq, sentAt: new Date().toISOString() };
        return { ...req, path: '/v1/devices/' + d.deviceId + '/reports', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + d.token }, body: JSON.stringify(body) };
      },
    }]
  : [{ method: 'GET', path: '/v1/health' }];
const r = await autocannon({ url: cfg.url, connections: cfg.connections, duration: cfg.duration, requests });
process.stdout.write(JSON.stringify({ duration: r.duration, latency: r.latency, statusCodeStats: r.statusCodeStats, errors: r.errors, timeouts: r.timeouts, non2xx: r.non2xx }));
`;

interface LoadResult {
  duration: number;
  latency: { p50: number; p99: number };
  statusCodeStats: Record<string, { count: number }>;
  errors: number;
  timeouts: number;
  non2xx: number;
}

async function loadgen(dir: string, cfg: object): Promise<LoadResult> {
  const file = join(dir, `loadgen-${randomBytes(3).toString('hex')}.json`);
  writeFileSync(file, JSON.stringify(cfg));
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', LOADGEN, file], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('exit', (code) =>
      code === 0
        ? resolvePromise(JSON.parse(out) as LoadResult)
        : reject(new Error(`load generator exited ${code}: ${err.slice(0, 300)}`)),
    );
  });
}

async function loadRows(fleet: Fleet, tokens: { deviceId: string; token: string }[], dir: string): Promise<BenchRow[]> {
  // Every device's first report stores its state; the load then measures steady heartbeats.
  for (let i = 0; i < tokens.length; i += 20) {
    await Promise.all(
      tokens.slice(i, i + 20).map(async (d) => {
        const res = await fetch(`${fleet.apiUrl}/v1/devices/${d.deviceId}/reports`, {
          method: 'POST',
          headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
          body: JSON.stringify(report(d.deviceId, 1)),
        });
        if (res.status !== 200) throw new Error(`first report of ${d.deviceId}: ${res.status} ${await res.text()}`);
      }),
    );
  }
  const base = await loadgen(dir, { url: fleet.apiUrl, connections: CONNECTIONS, duration: LOAD_SECONDS });
  const load = await loadgen(dir, {
    url: fleet.apiUrl,
    connections: CONNECTIONS,
    duration: LOAD_SECONDS,
    devices: tokens,
    template: report('x', 0),
  });
  const ok = (r: LoadResult) => r.statusCodeStats['200']?.count ?? 0;
  const rps = ok(load) / load.duration;
  const baseRps = ok(base) / base.duration;
  const failures = load.non2xx + load.errors + load.timeouts;
  return [
    {
      suite: SUITE,
      metric: `device reports/s (${tokens.length} devices, 1 autocannon process, ${CONNECTIONS} conns, ${LOAD_SECONDS} s)`,
      value: rps.toFixed(0),
      baseline: `${baseRps.toFixed(0)} health req/s`,
      ratio: (rps / baseRps).toFixed(2),
    },
    {
      suite: SUITE,
      metric: 'device report latency p50 / p99',
      value: `${load.latency.p50} / ${load.latency.p99} ms`,
      baseline: `${base.latency.p50} / ${base.latency.p99} ms (health)`,
    },
    {
      suite: SUITE,
      metric: 'device reports not answered 2xx',
      value: `${failures} of ${ok(load) + failures}`,
      budget: '0',
      ok: failures === 0,
    },
  ];
}

/** Sequential direct invocations: the process CPU delta is the handler's own work (SDK, middy, zod, domain). */
async function cpuPerCall(
  handler: LocalHandler,
  fn: string,
  makeEvent: (i: number) => unknown,
  n: number,
): Promise<number> {
  for (let i = 0; i < 20; i++) await handler(makeEvent(i), lambdaContext(fn, 30_000)); // warm
  const before = process.cpuUsage();
  for (let i = 20; i < n + 20; i++) {
    const res = (await handler(makeEvent(i), lambdaContext(fn, 30_000))) as { statusCode: number; body?: string };
    if (res.statusCode !== 200) throw new Error(`${fn} answered ${res.statusCode}: ${res.body}`);
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / n;
}

async function cpuRows(fleet: Fleet, tokens: { deviceId: string; token: string }[]): Promise<BenchRow[]> {
  const resolve = handlersFromDirectory();
  const deviceApi = await resolve('device-api');
  const operatorApi = await resolve('operator-api');
  const d = tokens[0]!;
  const seqBase = 1_000_000; // far above anything the load sent
  const reportEvent = (i: number) =>
    buildHttpApiEvent({
      method: 'POST',
      url: `/v1/devices/${d.deviceId}/reports`,
      rawHeaders: ['content-type', 'application/json', 'authorization', `Bearer ${d.token}`],
      body: Buffer.from(JSON.stringify(report(d.deviceId, seqBase + i))),
      sourceIp: '127.0.0.1',
      routeKey: 'POST /v1/devices/{deviceId}/reports',
      pathParameters: { deviceId: d.deviceId },
      host: new URL(fleet.apiUrl).host,
    });
  const healthEvent = () =>
    buildHttpApiEvent({
      method: 'GET',
      url: '/v1/health',
      rawHeaders: [],
      body: Buffer.alloc(0),
      sourceIp: '127.0.0.1',
      routeKey: 'GET /v1/health',
      pathParameters: {},
      host: 'local',
    });
  const reportCpu = await cpuPerCall(deviceApi, 'device-api', reportEvent, CPU_CALLS);
  const healthCpu = await cpuPerCall(operatorApi, 'operator-api', healthEvent, CPU_CALLS);
  return [
    {
      suite: SUITE,
      metric: 'device-api CPU per report (handler only, unchanged heartbeat)',
      value: `${reportCpu.toFixed(2)} ms`,
      baseline: `${healthCpu.toFixed(2)} ms (health handler)`,
      ratio: (reportCpu / healthCpu).toFixed(1),
    },
  ];
}

// ---- write units ---------------------------------------------------------------------------------------------

interface WriteRecord {
  table: string;
  key: Record<string, AttributeValue>;
  transactional: boolean;
}

/** Counts every write the handlers send (middleware on the shared DynamoDB client), whatever its outcome. */
function countWrites(): { writes: WriteRecord[]; stop(): void } {
  const writes: WriteRecord[] = [];
  const client = dynamo();
  const name = `bench-write-counter-${randomBytes(3).toString('hex')}`;
  // Document-client commands are seen here before their own marshalling: normalise to AttributeValues.
  const av = (rec: Record<string, any>): Record<string, AttributeValue> => {
    const first = Object.values(rec)[0];
    const marshalled =
      first &&
      typeof first === 'object' &&
      ['S', 'N', 'B', 'M', 'L', 'BOOL', 'NULL', 'SS', 'NS', 'BS'].some((k) => k in first);
    return marshalled ? rec : marshall(rec, { removeUndefinedValues: true });
  };
  const keyOf = (table: string, rawItem: Record<string, any>): Record<string, AttributeValue> => {
    const item = av(rawItem);
    const keys =
      table.endsWith('-fleet') || table.endsWith('-events') || table.endsWith('-alerts')
        ? ['pk', 'sk']
        : table.endsWith('-jobs')
          ? ['jobId']
          : ['id'];
    return Object.fromEntries(keys.filter((k) => item[k]).map((k) => [k, item[k]!]));
  };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as Record<string, any>;
      switch (context.commandName) {
        case 'PutItemCommand':
          writes.push({ table: input.TableName, key: keyOf(input.TableName, input.Item), transactional: false });
          break;
        case 'UpdateItemCommand':
        case 'DeleteItemCommand':
          writes.push({ table: input.TableName, key: av(input.Key), transactional: false });
          break;
        case 'BatchWriteItemCommand':
          for (const [table, reqs] of Object.entries(input.RequestItems as Record<string, any[]>))
            for (const r of reqs)
              writes.push({
                table,
                key: r.PutRequest ? keyOf(table, r.PutRequest.Item) : av(r.DeleteRequest.Key),
                transactional: false,
              });
          break;
        case 'TransactWriteItemsCommand':
          for (const t of input.TransactItems as any[]) {
            const op = t.Put ?? t.Update ?? t.Delete ?? t.ConditionCheck;
            if (t.ConditionCheck) continue;
            writes.push({
              table: op.TableName,
              key: t.Put ? keyOf(op.TableName, op.Item) : av(op.Key),
              transactional: true,
            });
          }
          break;
      }
      return next(args);
    },
    { step: 'initialize', name },
  );
  return { writes, stop: () => client.middlewareStack.remove(name) };
}

/** Write units of the recorded writes: ceil(item size / 1 KB) per write (×2 in a transaction), sized from the stored items. */
async function writeUnits(writes: WriteRecord[]): Promise<number> {
  const sizes = new Map<string, number>();
  let units = 0;
  for (const w of writes) {
    const id = `${w.table}|${JSON.stringify(w.key)}`;
    let size = sizes.get(id);
    if (size === undefined) {
      let item: Record<string, AttributeValue> | undefined;
      try {
        item = (await dynamo().send(new GetItemCommand({ TableName: w.table, Key: w.key }))).Item;
      } catch (err) {
        throw new Error(`sizing ${id}: ${(err as Error).message.slice(0, 80)}`);
      }
      size = item ? itemSize(item) : 1;
      sizes.set(id, size);
    }
    units += Math.max(1, Math.ceil(size / 1024)) * (w.transactional ? 2 : 1);
  }
  return units;
}

async function writeUnitRows(fleet: Fleet): Promise<BenchRow[]> {
  const HEARTBEAT_MS = 1000; // the default 60 s heartbeat, compressed 60×
  const devices: { deviceId: string; token: string }[] = [];
  for (let i = 0; i < WCU_DEVICES; i++) {
    const deviceId = `wcu-${i}`;
    const res = await fetch(`${fleet.apiUrl}/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fleet.operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId }),
    });
    if (res.status !== 201) throw new Error(`registering ${deviceId}: ${res.status}`);
    devices.push({ deviceId, token: ((await res.json()) as { token: string }).token });
  }
  const send = (d: { deviceId: string; token: string }, seq: number) =>
    fetch(`${fleet.apiUrl}/v1/devices/${d.deviceId}/reports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(report(d.deviceId, seq)),
    }).then(async (r) => {
      if (r.status !== 200) throw new Error(`report ${d.deviceId}#${seq}: ${r.status} ${await r.text()}`);
    });
  // First report (the state is stored once), outside the measurement: steady state is what a fleet lives in.
  await Promise.all(devices.map((d) => send(d, 1)));

  const counter = countWrites();
  const started = Date.now();
  for (let hb = 0; hb < WCU_HEARTBEATS; hb++) {
    const due = started + (hb + 1) * HEARTBEAT_MS;
    await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
    await Promise.all(devices.map((d) => send(d, hb + 2)));
  }
  counter.stop();
  const measuredUnits = await writeUnits(counter.writes);

  // Baseline in the same run: the same heartbeats, each writing the device's state item (a naive design).
  const naive = countWrites();
  const fleetTable = fleet.env.FLEET_TABLE!;
  const { Item: sample } = await dynamo().send(
    new GetItemCommand({
      TableName: fleetTable,
      Key: { pk: { S: `DEVICE#${devices[0]!.deviceId}` }, sk: { S: 'STATE' } },
    }),
  );
  if (!sample) throw new Error('no STATE item stored for the first device');
  const state = unmarshall(sample);
  for (let hb = 0; hb < WCU_HEARTBEATS; hb++) {
    await Promise.all(
      devices.map((d) =>
        documentClient().send(
          new PutCommand({
            TableName: fleetTable,
            Item: {
              ...state,
              pk: `DEVICE#naive-${d.deviceId}`,
              sk: 'STATE',
              lastSeq: hb + 2,
              lastSeenEpoch: Math.floor(Date.now() / 1000) + hb,
              lastReportAt: new Date().toISOString(),
            },
          }),
        ),
      ),
    );
  }
  naive.stop();
  const naiveUnits = await writeUnits(naive.writes);

  const heartbeatsPerHour = 3600 / 60;
  const perDeviceHour = (units: number) => (units / devices.length) * (heartbeatsPerHour / WCU_HEARTBEATS);
  const measured = perDeviceHour(measuredUnits);
  const baseline = perDeviceHour(naiveUnits);
  return [
    {
      suite: SUITE,
      metric: 'DynamoDB WCU per device-hour, 60 s heartbeat, nothing changes',
      value: measured.toFixed(1),
      baseline: `${baseline.toFixed(1)} (state item written every heartbeat)`,
      ratio: (measured / baseline).toFixed(3),
      budget: `≤ ${heartbeatsPerHour} (1 per heartbeat: the liveness item)`,
      ok: measured <= heartbeatsPerHour,
    },
  ];
}
