/**
 * The reconcile core, in-process:
 *  - an idle reconcile cycle with 10 running services (observe → plan → status → persist → health.json and
 *    textfile), median of 20, against the engine round trips such a cycle cannot avoid (list the owned
 *    containers + inspect the 10 images) measured right before: the ratio is the agent's own overhead
 *    (budget ≤ 2x);
 *  - the pure planner on 64 services with dependencies, against validating the same target with the contract
 *    schema (the work every cycle does anyway when a target arrives).
 * Needs the engine (container-lab or DOCKER_HOST) and LAB_REGISTRY for the first row.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TargetState, type TargetStateInput } from '../../functions/contract/target-state.js';
import { Agent } from '../../agent/src/agent.js';
import { defaultConfig } from '../../agent/src/config.js';
import { listOwnedContainers, presentImages } from '../../agent/src/engine/observe.js';
import { LABEL_AGENT } from '../../agent/src/labels.js';
import { silentLogger } from '../../agent/src/log.js';
import { plan } from '../../agent/src/planner/plan.js';
import { FileTargetProvider } from '../../agent/src/target/file-provider.js';
import { requireEngine, requireLabRegistry } from '../../test/support/engine.js';
import type { BenchRow } from '../run.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function idleCycle(): Promise<BenchRow> {
  const docker = await requireEngine();
  const registry = requireLabRegistry();
  const agentId = `bench-core-${randomBytes(3).toString('hex')}`;
  const dir = await mkdtemp(join(tmpdir(), 'fm-bench-core-'));
  const targetFile = join(dir, 'target.json');
  const services: TargetStateInput['services'] = {};
  for (let i = 0; i < 10; i++)
    services[`s${i}`] = { image: `${registry}/lab/busybox:${(i % 2) + 1}`, command: ['sleep', '3600'] };
  await writeFile(targetFile, JSON.stringify({ services }));
  const config = defaultConfig({
    stateDir: join(dir, 'state'),
    targetFile,
    agentId,
    namePrefix: `${agentId}_`,
    stopTimeoutSeconds: 1,
  });
  const agent = await Agent.open({
    config,
    docker,
    log: silentLogger(),
    targetProvider: new FileTargetProvider(targetFile),
  });
  try {
    const first = await agent.reconcileNow();
    if (!first.success) throw new Error(`setup cycle failed: ${JSON.stringify(first.errors).slice(0, 200)}`);
    const images = Object.values(services).map((s) => s.image);
    const base: number[] = [];
    const cyc: number[] = [];
    for (let i = 0; i < 20; i++) {
      let t0 = performance.now();
      await Promise.all([listOwnedContainers(docker, agentId), presentImages(docker, images)]);
      base.push(performance.now() - t0);
      t0 = performance.now();
      const r = await agent.reconcileNow();
      cyc.push(performance.now() - t0);
      if (r.outcomes.length) throw new Error('idle cycle executed steps');
    }
    const b = median(base);
    const c = median(cyc);
    return {
      suite: 'agent-core',
      metric: 'idle reconcile cycle, 10 services (median of 20)',
      value: `${c.toFixed(1)} ms`,
      baseline: `${b.toFixed(1)} ms engine round trips`,
      ratio: `${(c / b).toFixed(2)}x`,
      budget: '≤ 2x',
      ok: c / b <= 2,
    };
  } finally {
    await agent.stop();
    const left = await docker.listContainers({ all: true, filters: { label: [`${LABEL_AGENT}=${agentId}`] } });
    await Promise.all(
      left.map((c) =>
        docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => {}),
      ),
    );
    await rm(dir, { recursive: true, force: true });
  }
}

function plannerRow(): BenchRow {
  const input: TargetStateInput = { services: {} };
  for (let i = 0; i < 64; i++)
    input.services[`svc${i}`] = {
      image: `reg/app${i % 8}:1`,
      env: { N: String(i) },
      ports: [{ container: 8000 + i }],
      dependsOn: i >= 8 ? [`svc${i % 8}`] : [],
    };
  const target = TargetState.parse(input);
  const N = 500;
  let t0 = performance.now();
  for (let i = 0; i < N; i++) TargetState.parse(input);
  const validate = (performance.now() - t0) / N;
  t0 = performance.now();
  for (let i = 0; i < N; i++)
    plan({
      target,
      containers: [],
      presentImages: new Set(),
      gates: new Map(),
      manualStops: new Set(),
      holds: new Map(),
      isHealthy: () => true,
      now: i,
    });
  const p = (performance.now() - t0) / N;
  return {
    suite: 'agent-core',
    metric: 'plan 64 services with dependencies',
    value: `${(p * 1000).toFixed(0)} µs`,
    baseline: `${(validate * 1000).toFixed(0)} µs schema validation`,
    ratio: `${(p / validate).toFixed(2)}x`,
  };
}

export async function run(): Promise<BenchRow[]> {
  return [plannerRow(), await idleCycle()];
}
