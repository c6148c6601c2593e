/**
 * The agent over a long run (opt-in: `npm run bench agent -- --soak [--soak-minutes=N]`, default 45 minutes).
 *
 * The deployed bundle with the systemd unit's node flags supervises 10 services with checks every 2 s, one of
 * them crash-looping (it exits a few seconds after every start, so restarts, recreates, re-pulls and
 * CrashLoopBackOff all keep happening). RSS is sampled every 10 s; after a warm-up of a third of the run (at
 * least 10 minutes) the least-squares slope of RSS over time is the figure: budget ≤ 0.05 MB/min over a window
 * of at least 30 minutes, so the default run is 45 minutes. The warm-up is that long because a busy agent's RSS
 * rises for its first 10–15 minutes while V8 and the allocator size themselves to the load, then levels off
 * (measured, all samples printed: +8 MB over the first 10 minutes, +0.015 MB/min over minutes 20–30); a leak keeps
 * rising after that. The idle bench's 40 seconds cannot show a leak of this size.
 *
 * Heap snapshots (node's --heapsnapshot-signal) are taken AFTER the measured window, one at its end and one a
 * few minutes later (`--soak-heap-minutes=N`, default 3; 0 skips them); the constructors whose count/size grew
 * most between them are printed to stderr and the snapshot files kept (path printed), so a failing slope comes
 * with what to look at. None is taken before or during the window: writing one costs the process tens of MB
 * that the allocator hands back only slowly (measured: +40 MB), which used to show up as growth in the figure.
 * The RSS samples are printed to stderr. `FLEETMEDIC_SOAK_NODE_FLAGS` adds node flags to the agent's command
 * line, to compare settings (e.g. an `--import` of a script that samples process.memoryUsage()).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAgent } from '../../agent/build.js';
import { AGENT_NODE_FLAGS } from '../../agent/src/node-flags.js';
import { listOwnedContainers } from '../../agent/src/engine/observe.js';
import { requireEngine, requireLabRegistry } from '../../test/support/engine.js';
import type { BenchRow } from '../run.js';
import { HTTPD, offlineRunArgs, rssKb, sleep } from '../support/agent-process.js';

export const SOAK_BUDGET_MB_PER_MIN = 0.05;
const SAMPLE_EVERY_MS = 10_000;
const CHECK_INTERVAL_S = 2;
const CRASHER = ['sh', '-c', 'mkdir -p /www && echo ok > /www/index.html && httpd -p 8080 -h /www; sleep 4; exit 1'];

/** Least-squares slope of y over x. */
export function slope(points: ReadonlyArray<{ x: number; y: number }>): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return num / den;
}

interface HeapSnapshotJson {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Count and self size per `type:name` (constructor) in a V8 heap snapshot. */
async function heapCensus(file: string): Promise<Map<string, { count: number; size: number }>> {
  const snap = JSON.parse(await readFile(file, 'utf8')) as HeapSnapshotJson;
  const f = snap.snapshot.meta.node_fields;
  const width = f.length;
  const iType = f.indexOf('type');
  const iName = f.indexOf('name');
  const iSize = f.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const out = new Map<string, { count: number; size: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]!]!;
    const name =
      type === 'object' || type === 'closure' || type === 'native' ? snap.strings[snap.nodes[i + iName]!]! : '';
    const key = `${type}:${name.slice(0, 60)}`;
    const e = out.get(key) ?? { count: 0, size: 0 };
    e.count++;
    e.size += snap.nodes[i + iSize]!;
    out.set(key, e);
  }
  return out;
}

async function snapshot(pid: number, dir: string): Promise<string> {
  const before = new Set(await readdir(dir));
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await sleep(500);
    const added = (await readdir(dir)).filter((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    // The file is complete once its size stops changing.
    if (added.length) {
      const path = join(dir, added[0]!);
      let last = -1;
      for (;;) {
        const size = (await readFile(path)).length;
        if (size === last && size > 0) return path;
        last = size;
        await sleep(1000);
      }
    }
  }
  throw new Error('no heap snapshot written');
}

export async function runSoak(minutes: number, heapMinutes = 3): Promise<BenchRow[]> {
  const docker = await requireEngine();
  const registry = requireLabRegistry();
  const dir = await mkdtemp(join(tmpdir(), 'fm-bench-soak-'));
  const snapDir = join(dir, 'heap');
  await mkdir(snapDir);
  const agentId = `soak-${randomBytes(3).toString('hex')}`;
  const children: ChildProcess[] = [];
  try {
    const bundle = await buildAgent(join(dir, 'fleetmedic-agent.mjs'));
    const kinds = ['http', 'http', 'http', 'http', 'http', 'tcp', 'tcp', 'process', 'custom', 'crash'] as const;
    const services: Record<string, unknown> = {};
    kinds.forEach((kind, i) => {
      const common = {
        intervalSeconds: CHECK_INTERVAL_S,
        timeoutSeconds: 3,
        failureThreshold: 3,
        startupDelaySeconds: 1,
      };
      const healthCheck =
        kind === 'http' || kind === 'crash'
          ? { kind: 'http', port: 8080, ...common }
          : kind === 'tcp'
            ? { kind, port: 8080, ...common }
            : kind === 'process'
              ? { kind, processName: 'httpd', ...common }
              : { kind, command: ['test', '-f', '/www/index.html'], ...common };
      services[`svc${i}`] = {
        image: `${registry}/lab/busybox:1`,
        command: kind === 'crash' ? CRASHER : HTTPD,
        healthCheck,
      };
    });
    const targetFile = join(dir, 'target.json');
    await writeFile(targetFile, JSON.stringify({ services }));
    const agent = spawn(
      process.execPath,
      [
        ...AGENT_NODE_FLAGS,
        ...(process.env.FLEETMEDIC_SOAK_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
        '--heapsnapshot-signal=SIGUSR2',
        `--diagnostic-dir=${snapDir}`,
        ...offlineRunArgs({ bundle, targetFile, stateDir: join(dir, 'state'), agentId }),
        '--log-level',
        'error',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'], env: process.env },
    );
    children.push(agent);
    const t0 = Date.now();
    const end = t0 + minutes * 60_000;
    const warmupMs = Math.max(10 * 60_000, (minutes * 60_000) / 3);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const running = (await listOwnedContainers(docker, agentId)).filter((c) => c.state === 'running').length;
      if (running >= kinds.length - 1) break;
      if (Date.now() > deadline) throw new Error(`only ${running} services came up`);
      if (agent.exitCode !== null) throw new Error(`the agent exited with ${agent.exitCode}`);
      await sleep(500);
    }
    const points: Array<{ x: number; y: number }> = [];
    const all: number[] = [];
    while (Date.now() < end) {
      if (agent.exitCode !== null) throw new Error(`the agent exited with ${agent.exitCode}`);
      const kb = await rssKb(agent.pid!);
      all.push(kb);
      if (Date.now() - t0 >= warmupMs) points.push({ x: (Date.now() - t0) / 60_000, y: kb / 1024 });
      await sleep(SAMPLE_EVERY_MS);
    }
    const mbPerMin = slope(points);
    process.stderr.write(
      `soak: RSS (MB) every ${SAMPLE_EVERY_MS / 1000} s: ${all.map((kb) => (kb / 1024).toFixed(1)).join(' ')}\n`,
    );
    if (heapMinutes > 0) {
      const first = await snapshot(agent.pid!, snapDir);
      await sleep(heapMinutes * 60_000);
      const last = await snapshot(agent.pid!, snapDir);
      const [a, b] = await Promise.all([heapCensus(first), heapCensus(last)]);
      const growth = [...b]
        .map(([k, v]) => ({ k, dCount: v.count - (a.get(k)?.count ?? 0), dSize: v.size - (a.get(k)?.size ?? 0) }))
        .sort((x, y) => y.dSize - x.dSize)
        .slice(0, 15);
      process.stderr.write(
        `soak: heap snapshots in ${snapDir}; largest growth over the ${heapMinutes} min after the window:\n`,
      );
      for (const g of growth)
        process.stderr.write(
          `  ${g.k.padEnd(64)} ${g.dCount >= 0 ? '+' : ''}${g.dCount} objects  ${g.dSize >= 0 ? '+' : ''}${(g.dSize / 1024).toFixed(1)} KB\n`,
        );
    }
    agent.kill('SIGTERM');
    await new Promise((r) => agent.once('exit', r));
    const fullRun = minutes * 60_000 - warmupMs >= 30 * 60_000;
    return [
      {
        suite: 'agent',
        metric: `soak ${minutes} min, 10 services, checks every ${CHECK_INTERVAL_S} s, 1 crash-looping: RSS slope after ${Math.round(warmupMs / 60_000)} min warm-up (${(points[0]!.y).toFixed(1)} → ${(points.at(-1)!.y).toFixed(1)} MB over the window)${fullRun ? '' : ' [window shorter than the 30 min the budget needs]'}`,
        value: `${mbPerMin >= 0 ? '+' : ''}${mbPerMin.toFixed(3)} MB/min`,
        budget: `<= ${SOAK_BUDGET_MB_PER_MIN} MB/min over >= 30 min`,
        ok: fullRun && mbPerMin <= SOAK_BUDGET_MB_PER_MIN,
      },
    ];
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const c of await listOwnedContainers(docker, agentId).catch(() => []))
      await docker
        .getContainer(c.id)
        .remove({ force: true })
        .catch(() => {});
    // The heap snapshots stay for whoever reads the figure; the rest goes.
    await rm(join(dir, 'state'), { recursive: true, force: true });
  }
}
