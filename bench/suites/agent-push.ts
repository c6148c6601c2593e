/**
 * The push channel, measured on the local fleet (moto, the WebSocket emulation, the real handlers) with the real
 * agent bundle (agent/build.ts, the systemd unit's node flags) on the engine, in the same run:
 *  - command pickup: operator enqueue → job IN_PROGRESS on the device (its history's timestamps), p50 and p99,
 *    for an agent holding the push socket (budget p50 ≤ 1 s, p99 ≤ 3 s) and, beside it, an agent without the
 *    socket (the fallback: polling at the server's interval, here HEARTBEAT_SECONDS=10, and 2 s for a minute after
 *    job activity);
 *  - idle RSS of the agent with its push socket open, supervising 10 services, against an empty Node process
 *    measured the same way (budget ≤ 1.3x, as bench/suites/agent.ts for the agent without it).
 * `npm run bench push` (or `npm run bench agent`, which includes it). Needs the engine and LAB_REGISTRY.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAgent } from '../../agent/build.js';
import { listOwnedContainers } from '../../agent/src/engine/observe.js';
import { AGENT_NODE_FLAGS } from '../../agent/src/node-flags.js';
import type { Fleet } from '../../local/fleet.js';
import { requireEngine, requireLabRegistry } from '../../test/support/engine.js';
import type { BenchRow } from '../run.js';
import { HTTPD, rssKb, sleep } from '../support/agent-process.js';

const SUITE = 'agent-push';
const SERVICES = 10;
const JOBS_UP = Number(process.env.BENCH_PUSH_JOBS ?? 30);
const JOBS_DOWN = Number(process.env.BENCH_POLL_JOBS ?? 12);
const SETTLE_MS = 15_000;
const SAMPLE_MS = 20_000;
/** Median RSS over the window (GC makes single readings noisy). */
async function medianRss(pid: number): Promise<number> {
  const samples: number[] = [];
  const t0 = Date.now();
  while (Date.now() - t0 < SAMPLE_MS) {
    samples.push(await rssKb(pid));
    await sleep(1000);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}
/** Nearest-rank percentile. */
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export async function run(): Promise<BenchRow[]> {
  const docker = await requireEngine();
  const registry = requireLabRegistry();
  const savedEnv = { ...process.env };
  // Quiet handlers (their logger reads the level when first imported): imported only after setting it.
  Object.assign(process.env, { POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true' });
  const { startFleet } = await import('../../local/fleet.js');
  const { applyAwsTestEnv, startMoto } = await import('../../local/moto.js');
  const { newOperatorToken } = await import('../../local/secrets.js');
  const moto = await startMoto({ serialised: true });
  applyAwsTestEnv(moto.endpoint);
  const dir = await mkdtemp(join(tmpdir(), 'fm-bench-push-'));
  const tag = randomBytes(3).toString('hex');
  const children: ChildProcess[] = [];
  const agentIds: string[] = [];
  let fleet: Fleet | undefined;
  /** When each notification went out (to split pickup into cloud → hint and hint → IN_PROGRESS). */
  const posts: number[] = [];
  try {
    fleet = await startFleet({
      prefix: `bpush${tag}`,
      operatorToken: newOperatorToken(),
      slackPrint: null,
      scheduleSeconds: 3600,
      pollWaitSeconds: 1,
      log: () => {},
      // The fallback figure is polling at the idle interval (10 s here): no lingering short interval after a job.
      env: {
        HEARTBEAT_SECONDS: '10',
        ACTIVE_WINDOW_SECONDS: '1',
        POWERTOOLS_LOG_LEVEL: 'ERROR',
        POWERTOOLS_METRICS_DISABLED: 'true',
      },
      push: { onPost: (_id, at) => posts.push(at) },
    });
    const f = fleet;
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${f.apiUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${f.operatorToken}`, 'content-type': 'application/json' },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
      return text ? (JSON.parse(text) as any) : undefined;
    };
    const bundle = await buildAgent(join(dir, 'fleetmedic-agent.mjs'));

    const startAgent = async (deviceId: string, services: number, push: boolean) => {
      const { token } = await api('POST', '/v1/devices', { deviceId });
      const tokenFile = join(dir, `${deviceId}.token`);
      await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
      const target: Record<string, unknown> = {};
      for (let i = 0; i < services; i++) {
        target[`svc${i}`] = {
          image: `${registry}/lab/busybox:1`,
          command: HTTPD,
          healthCheck: {
            kind: 'http',
            port: 8080,
            intervalSeconds: 2,
            timeoutSeconds: 1,
            failureThreshold: 3,
            startupDelaySeconds: 1,
          },
        };
      }
      await api('PUT', `/v1/devices/${deviceId}/target`, { services: target });
      const agentId = `bp${tag}${push ? 'u' : 'd'}`;
      agentIds.push(agentId);
      const args = [
        ...AGENT_NODE_FLAGS,
        bundle,
        'run',
        '--api-url',
        f.apiUrl,
        '--device-id',
        deviceId,
        '--token-file',
        tokenFile,
        '--state-dir',
        join(dir, `state-${deviceId}`),
        '--agent-id',
        agentId,
        '--name-prefix',
        `${agentId}_`,
        '--log-json',
      ];
      if (push) args.push('--push-url', f.push!.url);
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'ignore'], env: process.env });
      children.push(child);
      const deadline = Date.now() + 180_000;
      for (;;) {
        const running = (await listOwnedContainers(docker, agentId)).filter((c) => c.state === 'running').length;
        if (running === services) break;
        if (Date.now() > deadline) throw new Error(`${deviceId}: only ${running}/${services} services came up`);
        if (child.exitCode !== null) throw new Error(`${deviceId}: the agent exited with ${child.exitCode}`);
        await sleep(500);
      }
      return child;
    };

    /** enqueue → IN_PROGRESS (history timestamps: both written by the cloud's clock), one job at a time. */
    const hintLatency: number[] = [];
    /** `gapMs`: pause after each job; random over a whole poll interval for the fallback, so jobs land at any phase of it. */
    const pickups = async (deviceId: string, n: number, gapMs: () => number): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const job = await api('POST', `/v1/devices/${deviceId}/jobs`, { type: 'retry-now', params: {} });
        const deadline = Date.now() + 60_000;
        for (;;) {
          const j = await api('GET', `/v1/jobs/${job.jobId}`);
          const started = (j.history as { status: string; at: string }[]).find((h) => h.status === 'IN_PROGRESS');
          if (started && j.status !== 'IN_PROGRESS') {
            const created = Date.parse(j.createdAt);
            out.push(Date.parse(started.at) - created);
            const hint = posts.find((at) => at >= created && at <= Date.parse(started.at));
            if (hint !== undefined) hintLatency.push(hint - created);
            break;
          }
          if (Date.now() > deadline)
            throw new Error(`${deviceId}: job ${job.jobId} not done within 60 s (${j.status})`);
          await sleep(100);
        }
        await sleep(gapMs());
      }
      return out.sort((a, b) => a - b);
    };

    const pushAgent = await startAgent(`bench-push-${tag}`, SERVICES, true);
    const deadline = Date.now() + 30_000;
    while (f.push!.connectionIds().length === 0) {
      if (Date.now() > deadline) throw new Error('the agent did not open its push connection');
      await sleep(200);
    }
    const empty = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(empty);
    await sleep(SETTLE_MS);
    const [agentRss, emptyRss] = await Promise.all([medianRss(pushAgent.pid!), medianRss(empty.pid!)]);
    const connectedDuringRss = f.push!.connectionIds().length > 0;

    const up = await pickups(`bench-push-${tag}`, JOBS_UP, () => 200 + Math.random() * 800);
    const hints = [...hintLatency].sort((a, b) => a - b);
    await startAgent(`bench-poll-${tag}`, 1, false);
    const down = await pickups(`bench-poll-${tag}`, JOBS_DOWN, () => 2000 + Math.random() * 10_000);

    const rssRatio = agentRss / emptyRss;
    const [p50, p99, d50, d99] = [percentile(up, 50), percentile(up, 99), percentile(down, 50), percentile(down, 99)];
    return [
      {
        suite: SUITE,
        metric: `command pickup p50, enqueue → IN_PROGRESS, socket up (${up.length} jobs; of it enqueue → hint sent p50 ${hints.length ? s(percentile(hints, 50)) : 'n/a'}; socket down: polling every 10 s)`,
        value: s(p50),
        baseline: `${s(d50)} socket down`,
        ratio: `${(p50 / d50).toFixed(2)}x`,
        budget: '<= 1 s',
        ok: p50 <= 1000,
      },
      {
        suite: SUITE,
        metric: `command pickup p99, same jobs (socket down: ${down.length} jobs)`,
        value: s(p99),
        baseline: `${s(d99)} socket down`,
        ratio: `${(p99 / d99).toFixed(2)}x`,
        budget: '<= 3 s',
        ok: p99 <= 3000,
      },
      {
        suite: SUITE,
        metric: `idle RSS with the push socket open, ${SERVICES} services (bundle, unit's node flags)`,
        value: `${(agentRss / 1024).toFixed(1)} MB`,
        baseline: `${(emptyRss / 1024).toFixed(1)} MB empty node`,
        ratio: `${rssRatio.toFixed(2)}x`,
        budget: '<= 1.3x',
        ok: rssRatio <= 1.3 && connectedDuringRss,
      },
    ];
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await sleep(2000);
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const id of agentIds)
      for (const c of await listOwnedContainers(docker, id).catch(() => []))
        await docker
          .getContainer(c.id)
          .remove({ force: true })
          .catch(() => {});
    await fleet?.close().catch(() => {});
    await moto.stop();
    await rm(dir, { recursive: true, force: true });
    process.env = savedEnv;
  }
}
