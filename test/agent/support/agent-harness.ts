/**
 * Harness for agent-on-engine tests: a unique agent id + container name prefix per test (parallel runs never
 * see each other's containers), a temp state dir and target file, and cleanup of everything created.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { TargetStateInput } from '../../../functions/contract/target-state.js';
import { Agent } from '../../../agent/src/agent.js';
import type { AgentModule } from '../../../agent/src/agent-module.js';
import { DEFAULT_BACKOFF_POLICY, scalePolicy } from '../../../agent/src/backoff/policy.js';
import { defaultConfig, type AgentConfig } from '../../../agent/src/config.js';
import { DEFAULT_DISK_CHECK } from '../../../agent/src/engine/disk.js';
import { LABEL_AGENT } from '../../../agent/src/labels.js';
import { silentLogger, createLogger } from '../../../agent/src/log.js';
import { FileTargetProvider } from '../../../agent/src/target/file-provider.js';
import { requireEngine, requireLabRegistry } from '../../support/engine.js';

/** The real schedule at 1/50 speed: 200 ms, 400 ms, 800 ms … 6 s max, quarantine 36 s, healthy reset 12 s. */
export const TEST_BACKOFF = scalePolicy(DEFAULT_BACKOFF_POLICY, 0.02);

export interface Harness {
  docker: Docker;
  registry: string;
  agentId: string;
  prefix: string;
  stateDir: string;
  targetFile: string;
  config: AgentConfig;
  writeTarget(t: TargetStateInput | { version: string; target: TargetStateInput }): Promise<void>;
  /** `docker`: the agent's own engine client (e.g. through a proxy the test controls); default the harness's. */
  open(overrides?: Partial<AgentConfig>, modules?: AgentModule[], docker?: Docker): Promise<Agent>;
  /** Containers carrying this test's agent label (owned ones). */
  owned(): Promise<Docker.ContainerInfo[]>;
  byService(service: string): Promise<Docker.ContainerInfo[]>;
  /** Extra containers to remove at the end (foreign ones a test created). */
  track(id: string): void;
  cleanup(): Promise<void>;
}

export async function harness(label: string): Promise<Harness> {
  const docker = await requireEngine();
  const registry = requireLabRegistry();
  const suffix = randomBytes(3).toString('hex');
  const agentId = `t-${label}-${suffix}`;
  const prefix = `fmt_${label}_${suffix}_`;
  const stateDir = await mkdtemp(join(tmpdir(), `fm-agent-${label}-`));
  const targetFile = join(stateDir, '..', `${agentId}-target.json`);
  const agents: Agent[] = [];
  const extra = new Set<string>();
  const config = defaultConfig({
    stateDir,
    targetFile,
    agentId,
    namePrefix: prefix,
    intervalMs: 60_000, // tests drive cycles with reconcileNow() unless they test the loop
    minCycleGapMs: 50,
    dependencyRecheckMs: 200,
    stopTimeoutSeconds: 1,
    backoff: TEST_BACKOFF,
    disk: { ...DEFAULT_DISK_CHECK },
    shutdownTimeoutMs: 10_000,
  });
  const owned = async () => docker.listContainers({ all: true, filters: { label: [`${LABEL_AGENT}=${agentId}`] } });
  return {
    docker,
    registry,
    agentId,
    prefix,
    stateDir,
    targetFile,
    config,
    async writeTarget(t) {
      await writeFile(targetFile, JSON.stringify(t));
    },
    async open(overrides = {}, modules = [], agentDocker = docker) {
      const cfg = { ...config, ...overrides };
      const log = process.env.AGENT_TEST_LOG
        ? createLogger({ json: false, level: 'debug', write: (s) => process.stderr.write(s) })
        : silentLogger();
      const agent = await Agent.open({
        config: cfg,
        docker: agentDocker,
        log,
        targetProvider: new FileTargetProvider(cfg.targetFile!),
        modules,
      });
      agents.push(agent);
      return agent;
    },
    owned,
    async byService(service) {
      return (await owned()).filter((c) => c.Labels['io.fleetmedic.service'] === service);
    },
    track(id) {
      extra.add(id);
    },
    async cleanup() {
      for (const a of agents) await a.stop().catch(() => {});
      const ids = new Set([...(await owned()).map((c) => c.Id), ...extra]);
      await Promise.all(
        [...ids].map((id) =>
          docker
            .getContainer(id)
            .remove({ force: true })
            .catch(() => {}),
        ),
      );
      await rm(stateDir, { recursive: true, force: true });
      await rm(targetFile, { force: true });
    },
  };
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 15_000,
  everyMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
