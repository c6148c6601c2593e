/**
 * The push channel against the local WebSocket emulation (local/websocket-gateway.ts) and moto: the real
 * device-socket handler behind $connect/$disconnect/$default, the real job dispatcher and operator API posting
 * to the emulated @connections endpoint with the real SDK client.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import WebSocket from 'ws';
import { startFleet, type Fleet } from '../../../local/fleet.js';
import { newOperatorToken } from '../../../local/secrets.js';
import { livenessPartition } from '../../../functions/domain/shards.js';
import { CONNECTION_TTL_SECONDS } from '../../../functions/adapters/connections-repo.js';
import { DISCONNECT_GRACE_SECONDS } from '../../../functions/domain/liveness.js';
import { ensureEmulator, type Emulator } from '../../support/moto.js';

let emulator: Emulator;
let fleet: Fleet;
let doc: DynamoDBDocumentClient;
const IDLE_MS = 6000;

before(async () => {
  emulator = await ensureEmulator();
  fleet = await startFleet({
    prefix: `push${randomBytes(3).toString('hex')}`,
    operatorToken: newOperatorToken(),
    slackPrint: null,
    scheduleSeconds: 3600,
    pollWaitSeconds: 1,
    log: () => {},
    push: { messageRate: { ratePerSecond: 5, burst: 10 }, idleTimeoutMs: IDLE_MS },
  });
  doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
});
after(async () => {
  await fleet.close();
  await emulator.stop();
});

const api = async (method: string, path: string, body?: unknown, token = fleet.operatorToken) => {
  const res = await fetch(`${fleet.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as any) : undefined };
};
async function register(deviceId: string): Promise<string> {
  const r = await api('POST', '/v1/devices', { deviceId });
  assert.equal(r.status, 201);
  return r.json.token as string;
}
const report = (deviceId: string, seq: number) => ({
  deviceId,
  seq,
  kind: 'full',
  agentVersion: 'test',
  uptimeSeconds: 1,
  sentAt: new Date().toISOString(),
  services: [],
});
const sync = (deviceId: string, token: string, seq: number) =>
  api('POST', `/v1/devices/${deviceId}/sync`, { report: report(deviceId, seq) }, token);
const fleetItem = async (pk: string, sk: string) =>
  (await doc.send(new GetCommand({ TableName: fleet.env.FLEET_TABLE, Key: { pk, sk }, ConsistentRead: true }))).Item;

interface Socket {
  ws: WebSocket;
  frames: any[];
  next(pred?: (f: any) => boolean, timeoutMs?: number): Promise<any>;
  closed: Promise<{ code: number }>;
}
function connect(token?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(fleet.push!.url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    const frames: any[] = [];
    const waiters: { pred: (f: any) => boolean; resolve: (f: any) => void }[] = [];
    ws.on('message', (d) => {
      const f = JSON.parse(String(d));
      frames.push(f);
      for (const w of [...waiters]) {
        if (!w.pred(f)) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(f);
      }
    });
    const closed = new Promise<{ code: number }>((r) => ws.on('close', (code) => r({ code })));
    ws.on('unexpected-response', (_req, res) =>
      reject(Object.assign(new Error(`handshake refused: ${res.statusCode}`), { status: res.statusCode })),
    );
    ws.on('error', reject);
    ws.on('open', () =>
      resolve({
        ws,
        frames,
        closed,
        next: (pred = () => true, timeoutMs = 20_000) =>
          new Promise((res, rej) => {
            const seen = frames.find(pred);
            if (seen) return res(seen);
            const t = setTimeout(
              () => rej(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(frames)}`)),
              timeoutMs,
            );
            waiters.push({
              pred,
              resolve: (f) => {
                clearTimeout(t);
                res(f);
              },
            });
          }),
      }),
    );
  });
}
const refusal = (token?: string) =>
  connect(token).then(
    (s) => {
      s.ws.terminate();
      assert.fail('connected');
    },
    (e: { status?: number }) => e.status,
  );
/** Until `check` holds (the gateway runs $disconnect after the close; its write lands a moment later). */
async function eventually<T>(
  check: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('$connect: a wrong, unknown or missing token is refused with 401 and stores nothing', async () => {
  const token = await register('push-auth');
  const before = fleet.push!.stats.connects;
  assert.equal(await refusal(`${token}x`), 401);
  assert.equal(await refusal(token.replace(/^push-auth/, 'push-nobody')), 401);
  assert.equal(await refusal(undefined), 401);
  assert.equal(await refusal('not-a-token'), 401);
  assert.equal(fleet.push!.stats.connects, before, 'no connection opened');
  assert.equal(await fleetItem('DEVICE#push-auth', 'CONNECTION'), undefined, 'no connection stored');
});

test('$connect stores the connection on the device with a TTL; $disconnect removes it (a reconnect close marks nothing)', async () => {
  const token = await register('push-book');
  await sync('push-book', token, 1);
  const s = await connect(token);
  const item = await fleetItem('DEVICE#push-book', 'CONNECTION');
  assert.ok(item, 'stored');
  const [connectionId] = fleet.push!.connectionIds().filter((id) => id === item.connectionId);
  assert.ok(connectionId, 'the stored id is the open connection');
  const nowSeconds = Date.now() / 1000;
  assert.ok(
    item.expiresAt > nowSeconds + CONNECTION_TTL_SECONDS - 60 && item.expiresAt <= nowSeconds + CONNECTION_TTL_SECONDS,
    'expires just after the 2 h limit',
  );
  assert.equal((await fleetItem(`CONNECTION#${connectionId}`, 'DEVICE'))?.deviceId, 'push-book');
  s.ws.close(4000, 'reconnecting');
  await eventually(async () => !(await fleetItem('DEVICE#push-book', 'CONNECTION')), 'the connection to be removed');
  await eventually(
    async () => !(await fleetItem(`CONNECTION#${connectionId}`, 'DEVICE')),
    'the owner item to be removed',
  );
  const live = await fleetItem(livenessPartition('push-book'), 'push-book');
  assert.equal(live?.disconnectedEpoch, undefined, 'a reconnect is not a goodbye');
});

test('$default: a malformed message gets an error frame and the connection stays open; a ping gets a pong', async () => {
  const token = await register('push-default');
  const s = await connect(token);
  s.ws.send('this is not json');
  const err = await s.next((f) => f.type === 'error');
  assert.equal(err.error, 'bad_message');
  s.ws.send(JSON.stringify({ action: 'reboot', now: true }));
  await s.next((f) => f.type === 'error' && f !== err);
  assert.equal(s.ws.readyState, WebSocket.OPEN);
  s.ws.send(JSON.stringify({ action: 'ping' }));
  assert.deepEqual(await s.next((f) => f.type === 'pong'), { type: 'pong' });
  s.ws.close(4000);
  await s.closed;
});

test('a job dispatched to the device and a changed target each send "sync now", with no command in it', async () => {
  const token = await register('push-notify');
  const s = await connect(token);
  const enq = await api('POST', '/v1/devices/push-notify/jobs', {
    type: 'restart-service',
    params: { service: 'web' },
  });
  assert.equal(enq.status, 202, JSON.stringify(enq.json));
  assert.deepEqual(await s.next((f) => f.type === 'sync' && f.reason === 'job'), { type: 'sync', reason: 'job' });
  const put = await api('PUT', '/v1/devices/push-notify/target', {
    services: { web: { image: '127.0.0.1:5000/lab/busybox:1' } },
  });
  assert.equal(put.status, 200, JSON.stringify(put.json));
  assert.deepEqual(await s.next((f) => f.type === 'sync' && f.reason === 'target'), { type: 'sync', reason: 'target' });
  assert.ok(!JSON.stringify(s.frames).includes(enq.json.jobId), 'no job id, no command body');
  // What the hint points at is in the ordinary sync answer.
  const r = await sync('push-notify', token, 1);
  assert.equal(r.json.jobs[0]?.jobId, enq.json.jobId);
  assert.equal(r.json.target.changed, true);
  s.ws.close(4000);
  await s.closed;
});

test('410 Gone: the stale connection is removed once, never retried; the device still gets its change by sync', async () => {
  const token = await register('push-gone');
  const ghost = 'R2hvc3RDb25uZWN0aW9u=';
  const expiresAt = Math.floor(Date.now() / 1000) + 3600;
  await doc.send(
    new PutCommand({
      TableName: fleet.env.FLEET_TABLE,
      Item: {
        pk: 'DEVICE#push-gone',
        sk: 'CONNECTION',
        connectionId: ghost,
        connectedAt: new Date().toISOString(),
        expiresAt,
      },
    }),
  );
  const stats = fleet.push!.stats;
  const [posts, gone] = [stats.posts, stats.gone];
  const put = await api('PUT', '/v1/devices/push-gone/target', {
    services: { web: { image: '127.0.0.1:5000/lab/busybox:1' } },
  });
  assert.equal(put.status, 200, 'the change itself succeeds');
  assert.equal(stats.posts - posts, 1, 'one post');
  assert.equal(stats.gone - gone, 1, 'answered 410');
  assert.equal(await fleetItem('DEVICE#push-gone', 'CONNECTION'), undefined, 'the gone connection is forgotten');
  const again = await api('PUT', '/v1/devices/push-gone/target', {
    services: { web: { image: '127.0.0.1:5000/lab/busybox:2' } },
  });
  assert.equal(again.status, 200);
  assert.equal(stats.posts - posts, 1, 'no further post to a forgotten connection');
  const r = await sync('push-gone', token, 1);
  assert.equal(
    r.json.target.document.target.services.web.image,
    '127.0.0.1:5000/lab/busybox:2',
    'nothing lost: the next sync delivers it',
  );
});

test('socket down: a dispatched job waits on the pending list and the next sync delivers it', async () => {
  const token = await register('push-down');
  const s = await connect(token);
  s.ws.terminate(); // a network loss: no close handshake
  await eventually(
    async () => !(await fleetItem('DEVICE#push-down', 'CONNECTION')),
    'the dropped connection to be removed',
  );
  const enq = await api('POST', '/v1/devices/push-down/jobs', { type: 'retry-now', params: {} });
  assert.equal(enq.status, 202);
  const job = await eventually(async () => {
    const r = await sync('push-down', token, Date.now());
    return r.json.jobs.find((j: { jobId: string }) => j.jobId === enq.json.jobId);
  }, 'the job in a sync answer');
  assert.equal(job.type, 'retry-now');
});

test("a connection flooding frames is throttled on its own: another connection's pings are all answered", async () => {
  const [ta, tb] = [await register('push-flood-a'), await register('push-flood-b')];
  const [a, b] = [await connect(ta), await connect(tb)];
  const stats = fleet.push!.stats;
  const [messages, throttled] = [stats.messages, stats.throttled];
  const started = performance.now();
  for (let i = 0; i < 500; i++) a.ws.send(JSON.stringify({ action: 'ping' }));
  const pongs = () => b.frames.filter((f) => f.type === 'pong').length;
  for (let i = 0; i < 5; i++) {
    b.ws.send(JSON.stringify({ action: 'ping' }));
    await eventually(async () => pongs() > i, `pong ${i + 1} of the quiet connection`);
  }
  const elapsedS = (performance.now() - started) / 1000;
  assert.equal(b.frames.filter((f) => f.type === 'pong').length, 5, 'every ping of the quiet connection answered');
  assert.ok(!b.frames.some((f) => f.message === 'Too Many Requests'), 'the quiet connection is never throttled');
  await a.next((f) => f.message === 'Too Many Requests');
  const fromFlood = stats.messages - messages - 5;
  // Each connection's bucket: 10 at once, then 5/s.
  assert.ok(
    fromFlood <= 10 + Math.ceil(elapsedS * 5) + 1,
    `the flood reached the handler ${fromFlood} times in ${elapsedS.toFixed(1)} s`,
  );
  assert.ok(stats.throttled - throttled >= 500 - fromFlood - 1);
  a.ws.close(4000);
  b.ws.close(4000);
  await Promise.all([a.closed, b.closed]);
});

test('the gateway closes a connection idle past its limit (1001), as API Gateway does after 10 minutes', async () => {
  const token = await register('push-idle');
  const s = await connect(token);
  const { code } = await s.closed;
  assert.equal(code, 1001);
  assert.ok(fleet.push!.stats.closedByGateway.idle >= 1);
  await eventually(
    async () => !(await fleetItem('DEVICE#push-idle', 'CONNECTION')),
    'the idle connection to be removed',
  );
});

test(`liveness: a clean disconnect followed by silence is offline after ${DISCONNECT_GRACE_SECONDS} s, heartbeat silence alone only after OFFLINE_AFTER`, async () => {
  const { evaluateFleet } = await import('../../../functions/services/offline-detection.js');
  const [tq, tc] = [await register('push-bye'), await register('push-quiet')];
  await sync('push-bye', tq, 1);
  await sync('push-quiet', tc, 1);
  const [bye, quiet] = [await connect(tq), await connect(tc)];
  const t0 = Date.now();
  bye.ws.close(1000, 'agent stopping');
  quiet.ws.close(4000, 'reconnecting');
  await eventually(
    async () => (await fleetItem(livenessPartition('push-bye'), 'push-bye'))?.disconnectedEpoch,
    'the goodbye to be recorded',
  );
  const evaluation = await evaluateFleet({ now: t0 + (DISCONNECT_GRACE_SECONDS + 2) * 1000 });
  assert.ok(evaluation.offline.includes('push-bye'), 'marked offline after the grace');
  assert.ok(!evaluation.offline.includes('push-quiet'), 'plain silence of the same length is not offline yet');
  // A sign of life takes the mark away.
  await sync('push-bye', tq, 2);
  assert.equal((await fleetItem(livenessPartition('push-bye'), 'push-bye'))?.disconnectedEpoch, undefined);
});
