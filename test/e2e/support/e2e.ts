/**
 * End-to-end harness: the whole system on one machine, as `npm start` runs it.
 *   - a moto_server of this test file's own (DynamoDB writes serialised, as DynamoDB makes them atomic; the
 *     fault scenario restarts it), the real handlers behind the local API gateway, the SQS pollers, the
 *     schedules (scaled down to seconds), the local Slack receiver;
 *   - real agents as separate processes (`bin/fleetmedic-agent.js run --api-url ...`) against the real engine
 *     from container-lab, each with its own ownership label so test files never touch each other's containers;
 *   - the operator CLI, run in-process (`runCli`), exactly as on-call would type it.
 * Nothing is skipped: without an engine or moto_server, requireEngine()/startMoto() fail with how to fix it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { applyAwsTestEnv, startMoto, type Emulator } from '../../../local/moto.js';
import { startFleet, type Fleet, type FleetOptions } from '../../../local/fleet.js';
import { newOperatorToken } from '../../../local/secrets.js';
import { dumpState, loadState } from '../../../local/state-dump.js';
import { runCli } from '../../../functions/cli/program.js';
import type { TargetStateInput } from '../../../functions/contract/target-state.js';
import { requireEngine, requireLabRegistry } from '../../support/engine.js';
import { startGate } from './gate.js';
import { provision } from '../../../local/provision.js';
import { provisionPagerRoute } from '../../../local/pager.js';
import { putSecret } from '../../../local/secrets.js';
import { removeLabContainers, uniqueAgentId } from '../../support/engine-lab.js';

export { waitFor, execWait, labContainers } from '../../support/engine-lab.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const AGENT_BIN = join(ROOT, 'bin', 'fleetmedic-agent.js');

/** Control-plane settings scaled for tests (same code paths, shorter clocks). */
export const E2E_FLEET_ENV: Record<string, string> = {
  HEARTBEAT_SECONDS: '3',
  OFFLINE_AFTER_SECONDS: '12',
  CIRCUIT_FAILURE_THRESHOLD: '3',
  CIRCUIT_COOLDOWN_SECONDS: '600',
  ALERT_GROUP_WAIT_SECONDS: '2',
  // A minute between two rollout stages in production; the rollout-controller schedule is scaled down alike.
  ROLLOUT_STAGE_SPACING_SECONDS: '1',
};

/** Agent cloud-link timings scaled for tests. */
export const E2E_AGENT_ENV: Record<string, string> = {
  FLEETMEDIC_JOB_POLL_SECONDS: '0.5',
  FLEETMEDIC_TARGET_POLL_SECONDS: '1',
  FLEETMEDIC_REPORT_MIN_INTERVAL_SECONDS: '0.5',
  FLEETMEDIC_HEARTBEAT_SECONDS: '3',
  FLEETMEDIC_RECONNECT_JITTER_SECONDS: '0.3',
  FLEETMEDIC_PROBE_MAX_SECONDS: '1',
  FLEETMEDIC_LOG_LEVEL: 'debug',
  // A dist/ bundle from an earlier build may be stale: always the sources under test.
  FLEETMEDIC_AGENT_FROM_SOURCE: '1',
};

export interface AgentProcess {
  deviceId: string;
  agentId: string;
  child: ChildProcess;
  logs: string[];
  /** SIGTERM and wait (clean shutdown). */
  stop(): Promise<void>;
  /** SIGKILL: the agent dies mid-whatever. */
  kill(): Promise<void>;
  /** Start it again with the same state directory and identity. */
  restart(): Promise<AgentProcess>;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface E2e {
  fleet: Fleet;
  emulator: Emulator;
  docker: Docker;
  dir: string;
  registry: string;
  image(tag: string): string;
  /** The operator CLI, in-process, against this fleet. */
  cli(...args: string[]): Promise<CliResult>;
  /** `--json` CLI call, parsed; throws with the CLI's stderr when it did not exit 0. */
  cliJson<T = any>(...args: string[]): Promise<T>;
  register(deviceId: string): Promise<string>;
  setTarget(deviceId: string, target: TargetStateInput): Promise<void>;
  startAgent(deviceId: string, opts?: { env?: Record<string, string>; interval?: number }): Promise<AgentProcess>;
  /**
   * Restart the emulator mid-run, keeping what it acknowledged (as a persistent emulator would): the gate
   * closes (every client now fails to reach it), moto is snapshotted, restarted, reloaded, the gate opens.
   */
  restartEmulator(): Promise<void>;
  /** Print agent logs (on failure). */
  dumpLogs(): void;
  close(): Promise<void>;
}

export async function startE2e(name: string, opts: Partial<FleetOptions> = {}): Promise<E2e> {
  const docker = await requireEngine();
  const registry = requireLabRegistry();
  const emulator = await startMoto({ serialised: true });
  // Everything reaches the emulator through a gate, so the fault scenario can take it away from all at once.
  const gate = await startGate(emulator.endpoint);
  process.env.AWS_ENDPOINT_URL = gate.url;
  applyAwsTestEnv(gate.url);
  const dir = mkdtempSync(join(tmpdir(), `fm-e2e-${name}-`));
  const fleetLog: string[] = [];
  const fleet = await startFleet({
    prefix: `e2e${name.replace(/[^a-z0-9]/g, '').slice(0, 8)}${randomBytes(2).toString('hex')}`,
    operatorToken: newOperatorToken(),
    slackPrint: process.env.E2E_DEBUG ? undefined : null,
    pollWaitSeconds: 1,
    log: (l) => fleetLog.push(l),
    ...opts,
    scheduleMs: {
      'health-evaluator': 2000,
      'outbox-publisher': 1000,
      'job-timeout-sweeper': 2000,
      'rollout-controller': 2000,
      ...opts.scheduleMs,
    },
    env: { ...E2E_FLEET_ENV, ...opts.env },
  });
  const agents: AgentProcess[] = [];
  const agentIds = new Set<string>();

  const cli = async (...args: string[]): Promise<CliResult> => {
    let stdout = '';
    let stderr = '';
    const code = await runCli(['--api-url', fleet.apiUrl, '--token', fleet.operatorToken, ...args], {
      stdout: (s) => (stdout += s),
      stderr: (s) => (stderr += s),
      env: { FLEETMEDIC_LOCAL_DIR: dir },
      now: Date.now,
      color: false,
    });
    return { code, stdout, stderr };
  };

  const launch = (deviceId: string, agentId: string, env: Record<string, string>, interval: number): AgentProcess => {
    const logs: string[] = [];
    const child = spawn(
      process.execPath,
      [
        AGENT_BIN,
        'run',
        '--api-url',
        fleet.apiUrl,
        '--device-id',
        deviceId,
        '--token-file',
        join(dir, `${deviceId}.token`),
        '--state-dir',
        join(dir, `agent-${deviceId}`),
        '--agent-id',
        agentId,
        '--name-prefix',
        `${agentId}_`,
        '--interval',
        String(interval),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...E2E_AGENT_ENV, ...env } },
    );
    for (const s of [child.stdout!, child.stderr!])
      s.on('data', (c: Buffer) => logs.push(...c.toString().split('\n').filter(Boolean)));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const proc: AgentProcess = {
      deviceId,
      agentId,
      child,
      logs,
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 25_000);
        await exited;
        clearTimeout(t);
      },
      async kill() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGKILL');
        await exited;
      },
      async restart() {
        await proc.stop();
        const next = launch(deviceId, agentId, env, interval);
        agents.push(next);
        return next;
      },
    };
    return proc;
  };

  const e2e: E2e = {
    fleet,
    emulator,
    docker,
    dir,
    registry,
    image: (tag) => `${registry}/lab/busybox:${tag}`,
    cli,
    async cliJson(...args) {
      const r = await cli('--json', ...args);
      if (r.code !== 0) throw new Error(`fleetmedic ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout);
    },
    async register(deviceId) {
      const file = join(dir, `${deviceId}.token`);
      const r = await cli('register', deviceId, '--token-file', file);
      if (r.code !== 0) throw new Error(`register ${deviceId}: ${r.stderr}`);
      return file;
    },
    async setTarget(deviceId, target) {
      const file = join(dir, `target-${deviceId}-${randomBytes(3).toString('hex')}.json`);
      writeFileSync(file, JSON.stringify(target));
      const r = await cli('target', deviceId, '--file', file);
      if (r.code !== 0) throw new Error(`target ${deviceId}: ${r.stderr}`);
    },
    async startAgent(deviceId, o = {}) {
      const agentId = uniqueAgentId(`e2e${name.replace(/[^a-z0-9]/g, '').slice(0, 6)}`);
      agentIds.add(agentId);
      const a = launch(deviceId, agentId, o.env ?? {}, o.interval ?? 2);
      agents.push(a);
      return a;
    },
    async restartEmulator() {
      // SQS keeps in-flight and hidden messages across anything; a snapshot reads only visible ones, so the
      // pollers finish their batches and release what they left hidden first, and resume afterwards.
      const pollers = Object.values(fleet.pollers);
      await Promise.all(pollers.map((p) => p.pause()));
      await Promise.all(pollers.map((p) => p.releaseFailed()));
      await gate.down();
      const direct = { endpoint: emulator.endpoint };
      const dump = await dumpState(fleet.env, undefined, direct);
      await emulator.restart!();
      const prefix = fleet.env.FLEET_TABLE!.replace(/-fleet$/, '');
      await provision(prefix, undefined, direct);
      await putSecret(fleet.env.OPERATOR_TOKEN_SECRET_ID!, fleet.operatorToken, 'operator token', direct);
      await putSecret(fleet.env.SLACK_WEBHOOK_SECRET_ID!, fleet.slackWebhookUrl, 'slack webhook', direct);
      // What the fleet set up beside the spec: the per-level channels' webhooks and the pager's queue.
      for (const c of fleet.slackChannels)
        await putSecret(fleet.env[c.envVar]!, fleet.slack!.channelUrl(c.channel), `slack ${c.channel}`, direct);
      if (fleet.pager) await provisionPagerRoute(prefix, fleet.env.ALERT_TOPIC_ARN!, direct);
      await loadState(dump, fleet.env, undefined, Date.now(), direct);
      gate.up();
      for (const p of pollers) p.resume();
    },
    dumpLogs() {
      for (const a of agents) {
        process.stderr.write(`---- agent ${a.deviceId} (${a.agentId}) ----\n${a.logs.slice(-200).join('\n')}\n`);
      }
      process.stderr.write(`---- fleet ----\n${fleetLog.slice(-100).join('\n')}\n`);
    },
    async close() {
      await Promise.allSettled(agents.map((a) => a.stop()));
      await fleet.close();
      for (const id of agentIds) await removeLabContainers(docker, id).catch(() => {});
      await gate.close();
      await emulator.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return e2e;
}

/** Print agent/fleet logs when a test failed, so CI output explains itself. */
export async function withLogsOnFailure<T>(e2e: E2e, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    e2e.dumpLogs();
    throw err;
  }
}
