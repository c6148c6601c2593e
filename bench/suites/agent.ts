/**
 * The edge agent at rest and under a failure, measured as separate processes in the same run:
 *  - idle RSS of the agent (the bundle an edge device runs: agent/build.ts, started with the systemd unit's
 *    node flags, AGENT_NODE_FLAGS) supervising 10 services under health checks every 2 s, against an empty
 *    Node process (no flags) measured the same way (budget: ≤ 1.3x);
 *  - idle CPU of the agent over the same window (% of one core; budget: ≤ 5 %);
 *  - time from a container kill to the service answering its HTTP check again, at a 2 s check interval
 *    (budget: < 5 s), median and worst of 3.
 * With `--soak` (`npm run bench -- agent --soak [--soak-minutes=N] [--soak-heap-minutes=N]`), also the long run of bench/soak/agent-soak.ts:
 * the RSS slope over 30 minutes (after a 15-minute warm-up) with a crash-looping service (budget ≤ 0.05 MB/min), opt-in for its length.
 * Needs the engine (container-lab or DOCKER_HOST) and LAB_REGISTRY.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { buildAgent } from '../../agent/build.js';
import { AGENT_NODE_FLAGS } from '../../agent/src/node-flags.js';
import { listOwnedContainers } from '../../agent/src/engine/observe.js';
import { requireEngine, requireLabRegistry } from '../../test/support/engine.js';
import type { BenchRow } from '../run.js';
import { runSoak } from '../soak/agent-soak.js';
import { HTTPD, offlineRunArgs, rssKb, sleep } from '../support/agent-process.js';

const SERVICES = 10;
const SETTLE_MS = 15_000;
const SAMPLE_MS = 20_000;
const CHECK_INTERVAL_S = 2;

/** utime + stime of a process, in clock ticks (USER_HZ = 100 on Linux). */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Median RSS over the sample window (GC makes single readings noisy) and CPU % of one core over it. */
async function measure(pid: number): Promise<{ rssKb: number; cpuPct: number }> {
  const samples: number[] = [];
  const t0 = Date.now();
  const c0 = await cpuTicks(pid);
  while (Date.now() - t0 < SAMPLE_MS) {
    samples.push(await rssKb(pid));
    await sleep(1000);
  }
  const ticks = (await cpuTicks(pid)) - c0;
  samples.sort((a, b) => a - b);
  return { rssKb: samples[Math.floor(samples.length / 2)]!, cpuPct: (ticks / 100 / ((Date.now() - t0) / 1000)) * 100 };
}

function httpOk(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/', agent: false, timeout: 500 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

async function ipOf(docker: Docker, id: string): Promise<string | undefined> {
  const info = await docker.getContainer(id).inspect();
  const nets = info.NetworkSettings?.Networks ?? {};
  return (
    Object.values(nets).find((n) => n?.IPAddress)?.IPAddress ||
    (info.NetworkSettings as { IPAddress?: string }).IPAddress ||
    undefined
  );
}

export async function run(): Promise<BenchRow[]> {
  const docker = await requireEngine();
  const registry = requireLabRegistry();
  const dir = await mkdtemp(join(tmpdir(), 'fm-bench-agent-'));
  const agentId = `bench-${randomBytes(3).toString('hex')}`;
  const children: ChildProcess[] = [];
  const rows: BenchRow[] = [];
  try {
    const bundle = await buildAgent(join(dir, 'fleetmedic-agent.mjs'));
    const kinds = ['http', 'http', 'http', 'http', 'http', 'http', 'tcp', 'tcp', 'process', 'custom'] as const;
    const services: Record<string, unknown> = {};
    for (let i = 0; i < SERVICES; i++) {
      const common = {
        intervalSeconds: CHECK_INTERVAL_S,
        timeoutSeconds: 1,
        failureThreshold: 3,
        startupDelaySeconds: 1,
      };
      const kind = kinds[i]!;
      const healthCheck =
        kind === 'http'
          ? { kind, port: 8080, ...common }
          : kind === 'tcp'
            ? { kind, port: 8080, ...common }
            : kind === 'process'
              ? { kind, processName: 'httpd', ...common }
              : { kind, command: ['test', '-f', '/www/index.html'], ...common };
      services[`svc${i}`] = { image: `${registry}/lab/busybox:1`, command: HTTPD, healthCheck };
    }
    const targetFile = join(dir, 'target.json');
    await writeFile(targetFile, JSON.stringify({ services }));

    const agent = spawn(
      process.execPath,
      [...AGENT_NODE_FLAGS, ...offlineRunArgs({ bundle, targetFile, stateDir: join(dir, 'state'), agentId })],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: process.env,
      },
    );
    children.push(agent);
    const empty = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(empty);

    const deadline = Date.now() + 120_000;
    for (;;) {
      const running = (await listOwnedContainers(docker, agentId)).filter((c) => c.state === 'running').length;
      if (running === SERVICES) break;
      if (Date.now() > deadline) throw new Error(`only ${running}/${SERVICES} services came up`);
      if (agent.exitCode !== null) throw new Error(`the agent exited with ${agent.exitCode}`);
      await sleep(500);
    }
    await sleep(SETTLE_MS);
    const [a, e] = await Promise.all([measure(agent.pid!), measure(empty.pid!)]);
    const ratio = a.rssKb / e.rssKb;
    rows.push({
      suite: 'agent',
      metric: `idle RSS, ${SERVICES} services, checks every ${CHECK_INTERVAL_S} s (bundle, unit's node flags)`,
      value: `${(a.rssKb / 1024).toFixed(1)} MB`,
      baseline: `${(e.rssKb / 1024).toFixed(1)} MB empty node`,
      ratio: `${ratio.toFixed(2)}x`,
      budget: '<= 1.3x',
      ok: ratio <= 1.3,
    });
    rows.push({
      suite: 'agent',
      metric: `idle CPU, same window (${SAMPLE_MS / 1000} s)`,
      value: `${a.cpuPct.toFixed(2)} % of a core`,
      baseline: `${e.cpuPct.toFixed(2)} % empty node`,
      budget: '<= 5 %',
      ok: a.cpuPct <= 5,
    });

    // Kill → healthy: the agent learns of the death (engine event, or the next failed check), restarts the
    // container, and the service answers its HTTP check again.
    const times: number[] = [];
    for (let round = 0; round < 3; round++) {
      const [victim] = (await listOwnedContainers(docker, agentId)).filter(
        (c) => c.service === 'svc0' && c.state === 'running',
      );
      if (!victim) throw new Error('svc0 is not running');
      const t0 = Date.now();
      // Not awaited: Podman answers a SIGKILL only once it saw the container stopped, which a fast recovery
      // can outrun; Docker answers at once.
      void docker
        .getContainer(victim.id)
        .kill()
        .catch(() => {});
      await sleep(50);
      for (;;) {
        if (Date.now() - t0 > 30_000) throw new Error('svc0 did not come back within 30 s');
        const info = await docker
          .getContainer(victim.id)
          .inspect()
          .catch(() => null);
        const ip = info?.State?.Running ? await ipOf(docker, victim.id) : undefined;
        if (ip && (await httpOk(ip, 8080))) break;
        await sleep(50);
      }
      times.push(Date.now() - t0);
      await sleep(8000); // back to steady state (and the kill API call of Podman returns)
    }
    times.sort((x, y) => x - y);
    const median = times[1]!;
    rows.push({
      suite: 'agent',
      metric: `container kill → healthy again (check every ${CHECK_INTERVAL_S} s; median of 3, worst ${(times[2]! / 1000).toFixed(2)} s)`,
      value: `${(median / 1000).toFixed(2)} s`,
      budget: '< 5 s',
      ok: times[2]! < 5000,
    });
    agent.kill('SIGTERM');
    await new Promise((r) => agent.once('exit', r));
    if (process.argv.includes('--soak')) {
      const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
      rows.push(...(await runSoak(Number(arg('soak-minutes') ?? 45), Number(arg('soak-heap-minutes') ?? 3))));
    }
    return rows;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const c of await listOwnedContainers(docker, agentId).catch(() => []))
      await docker
        .getContainer(c.id)
        .remove({ force: true })
        .catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}
