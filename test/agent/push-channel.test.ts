/**
 * The agent's push channel (agent/src/cloud/push-channel.ts) with its cloud link, against the real local fleet:
 * the WebSocket emulation, the real handlers and dispatcher on moto. The server's idle sync interval is an hour
 * here (HEARTBEAT_SECONDS=3600), so a job the link picks up within the test was brought by the push channel,
 * never by polling: nothing is measured against a wall clock. Timings of API Gateway's limits are scaled down
 * (idle 2 s, lifetime 4 s) and the agent's below them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CloudApi } from '../../agent/src/cloud/api-client.js';
import { JobJournal } from '../../agent/src/cloud/job-journal.js';
import type { JobHandlers } from '../../agent/src/cloud/job-runner.js';
import { CloudLink } from '../../agent/src/cloud/link.js';
import { DEFAULT_PUSH_TIMING, PushChannel, type PushChannelConfig } from '../../agent/src/cloud/push-channel.js';
import { ReportBuffer } from '../../agent/src/cloud/report-buffer.js';
import { emptyRollout, RolloutDoc } from '../../agent/src/cloud/rollout.js';
import { systemClock } from '../../agent/src/clock.js';
import { silentLogger } from '../../agent/src/log.js';
import { JsonStore } from '../../agent/src/state/json-store.js';
import { startFleet, type Fleet } from '../../local/fleet.js';
import { newOperatorToken } from '../../local/secrets.js';
import { ensureEmulator, type Emulator } from '../support/moto.js';
import { waitFor } from '../support/engine-lab.js';

let emulator: Emulator;
let fleet: Fleet;
const cleanup: (() => Promise<unknown>)[] = [];
const GATEWAY = { idleTimeoutMs: 2000, maxConnectionMs: 4000 };

before(async () => {
  emulator = await ensureEmulator();
  fleet = await startFleet({
    prefix: `apush${randomBytes(3).toString('hex')}`,
    operatorToken: newOperatorToken(),
    slackPrint: null,
    scheduleSeconds: 3600,
    pollWaitSeconds: 1,
    log: () => {},
    // An hour between idle syncs: only the push channel can bring a job sooner.
    env: { HEARTBEAT_SECONDS: '3600', ACTIVE_SYNC_SECONDS: '3600' },
    push: GATEWAY,
  });
});
after(async () => {
  for (const c of cleanup.reverse()) await c();
  await fleet.close();
  await emulator.stop();
});

const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${fleet.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${fleet.operatorToken}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as any) : undefined };
};

async function device(
  deviceId: string,
  push: Partial<PushChannelConfig> & { url?: string } = {},
  linkOpts: { maxSyncMs?: number } = {},
) {
  const reg = await api('POST', '/v1/devices', { deviceId });
  assert.equal(reg.status, 201);
  const token: string = reg.json.token;
  const dir = await mkdtemp(join(tmpdir(), 'fm-push-'));
  const effects: string[] = [];
  const handlers: JobHandlers = {
    'restart-service': async (p) => void effects.push(`restart:${p.service}`),
    'pull-image': async (p) => void effects.push(`pull:${p.image}`),
    'set-target-state': async () => void effects.push('target'),
    'run-health-check': async () => ({ web: true }),
    'retry-now': async (p) => void effects.push(`retry:${p.service ?? '*'}`),
  };
  const link = new CloudLink({
    api: new CloudApi({
      baseUrl: fleet.apiUrl,
      deviceId,
      token,
      policy: { timeoutMs: 5000, retryMax: 1, retryBackoffMs: 50, maxBackoffMs: 200 },
    }),
    buffer: new ReportBuffer({ dir: join(dir, 'outbox'), maxReports: 500 }),
    journal: new JobJournal(dir),
    rolloutStore: new JsonStore({ dir, name: 'rollout', schema: RolloutDoc, fallback: emptyRollout }),
    clock: systemClock,
    log: silentLogger(),
    source: {
      reports: () => [
        {
          name: 'web',
          image: 'reg/app:1',
          status: 'running',
          restartCount: 0,
          recentRestarts: 0,
          error: null,
          lastHealthCheck: null,
        },
      ],
      targetHealthy: () => true,
      targetChanged: (snap) => void effects.push(`target:${snap.version}`),
    },
    handlers,
    deviceId,
    agentVersion: '0.2.0-test',
    schedule: { minIntervalMs: 150, heartbeatMs: 3600_000, fullEveryMs: 3600_000 },
    link: { probeBaseMs: 100, probeMaxMs: 400, reconnectJitterMs: 100 },
    targetPollMs: 3600_000,
    jobPollMs: 3600_000,
    ...linkOpts,
  });
  await link.load();
  link.markReady();
  link.start();
  const channel = new PushChannel({
    // Below the gateway's (scaled) limits, as the defaults are below API Gateway's: lifetime 4 s → replaced within
    // 1.5 s; idle 2 s → a ping every 0.4 s.
    config: {
      ...DEFAULT_PUSH_TIMING,
      url: fleet.push!.url,
      backoffBaseMs: 200,
      backoffMaxMs: 1000,
      maxConnectionMs: 1500,
      pingMs: 400,
      pongTimeoutMs: 1500,
      ...push,
    },
    token: () => token,
    onSync: () => link.syncNow(),
    log: silentLogger(),
  });
  await channel.start();
  cleanup.push(async () => {
    await channel.stop();
    await link.stop();
    // A write the link started just before stopping may still land: retry the removal rather than race it.
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });
  // The first sync (at start) sets the next one an hour away.
  await waitFor('the first sync', async () => link.stats.syncs >= 1);
  return { link, channel, effects, token };
}

test('a notification makes the link sync at once: the job runs although the next poll is an hour away', async () => {
  const d = await device('apush-fast');
  await waitFor('the push channel to connect', async () => d.channel.connected);
  const enq = await api('POST', '/v1/devices/apush-fast/jobs', { type: 'restart-service', params: { service: 'web' } });
  assert.equal(enq.status, 202);
  await waitFor('the job to run on the device', async () => d.effects.includes('restart:web'), 60_000);
  assert.ok(d.channel.stats.notifications >= 1, 'brought by a notification');
  assert.ok(d.link.stats.pushedSyncs >= 1);
  const job = await waitFor(
    'the job to succeed',
    async () => {
      const r = await api('GET', `/v1/jobs/${enq.json.jobId}`);
      return r.json?.status === 'SUCCEEDED' && r.json;
    },
    60_000,
  );
  assert.equal(job.status, 'SUCCEEDED');
});

test('socket down: the link keeps syncing at its interval and still gets the job', async () => {
  // Nothing listens at this URL; a 1 s cap on the interval stands for the server's ordinary polling.
  const d = await device('apush-down', { url: 'ws://127.0.0.1:9/live' }, { maxSyncMs: 1000 });
  const enq = await api('POST', '/v1/devices/apush-down/jobs', { type: 'retry-now', params: {} });
  assert.equal(enq.status, 202);
  await waitFor('the job to run by polling', async () => d.effects.includes('retry:*'), 60_000);
  assert.equal(d.channel.stats.connects, 0);
  assert.equal(d.channel.stats.notifications, 0);
});

test('a lost connection is re-established with backoff, and notifications flow again', async () => {
  const d = await device('apush-lost');
  await waitFor('the push channel to connect', async () => d.channel.connected);
  const before = fleet.push!.connectionIds();
  for (const id of before) fleet.push!.drop(id);
  await waitFor('a reconnect', async () => d.channel.stats.lost >= 1 && d.channel.connected, 30_000);
  const enq = await api('POST', '/v1/devices/apush-lost/jobs', { type: 'restart-service', params: { service: 'web' } });
  assert.equal(enq.status, 202);
  await waitFor('the job to run after the reconnect', async () => d.effects.includes('restart:web'), 60_000);
  assert.ok(d.channel.stats.connects >= 2);
});

test("the agent replaces its connection before API Gateway's lifetime limit and pings before its idle limit", async () => {
  // Every channel of this file stays below the gateway's limits, so the gateway never closes one itself.
  const gatewayClosed = { ...fleet.push!.stats.closedByGateway };
  const d = await device('apush-rotate');
  await waitFor('two replacements', async () => d.channel.stats.replaced >= 2 && d.channel.connected, 30_000);
  assert.ok(d.channel.stats.pings >= 1);
  assert.equal(fleet.push!.stats.closedByGateway.idle, gatewayClosed.idle, 'never closed for idleness by the gateway');
  assert.equal(
    fleet.push!.stats.closedByGateway.maxAge,
    gatewayClosed.maxAge,
    "never reached the gateway's lifetime limit",
  );
  // Still fast across replacements: a notification racing a replacement may land on the closing socket, and the
  // sync every new connection makes picks the change up then (the interval alone would take an hour).
  const put = await api('PUT', '/v1/devices/apush-rotate/target', {
    services: { web: { image: '127.0.0.1:5000/lab/busybox:1' } },
  });
  assert.equal(put.status, 200);
  await waitFor('the new target on the device', async () => d.effects.includes(`target:${put.json.version}`), 30_000);
});
