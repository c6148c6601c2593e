/**
 * `npm start -- --with-agent`: one real agent (B's `fleetmedic-agent`, as a child process) for device `demo-1`
 * against the local Docker engine, with the demo target (a good service and a deliberately bad image).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { dockerFromHost } from '../agent/src/engine/docker.js';
import { ApiClient } from '../functions/cli/api-client.js';
import { CliError } from '../functions/cli/errors.js';
import type { Fleet } from './fleet.js';
import { demoTarget } from './demo-target.js';

export const DEMO_DEVICE = 'demo-1';
const ROOT = join(import.meta.dirname, '..');
const AGENT_BIN = join(ROOT, 'bin', 'fleetmedic-agent.js');

export interface DemoAgent {
  deviceId: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startDemoAgent(opts: {
  fleet: Fleet;
  stateDir: string;
  log: (l: string) => void;
  deviceId?: string;
}): Promise<DemoAgent> {
  const deviceId = opts.deviceId ?? DEMO_DEVICE;
  if (!existsSync(join(ROOT, 'agent', 'src', 'main.ts')))
    throw new Error('the agent (agent/src/main.ts) does not exist yet');
  const host = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
  try {
    await dockerFromHost(process.env.DOCKER_HOST).ping();
  } catch (err) {
    throw new Error(
      `no Docker engine answers at ${host} (${(err as Error).message}). Start one (container-lab: eval "$(../shared/tools/container-lab up)") or set DOCKER_HOST, then retry.`,
    );
  }

  const api = new ApiClient({
    apiUrl: opts.fleet.apiUrl,
    auth: { kind: 'bearer', token: opts.fleet.operatorToken },
    source: 'local',
  });
  const tokenFile = join(opts.stateDir, `${deviceId}.token`);
  try {
    const { data } = await api.call<{ token: string }>('registerDevice', {
      body: { deviceId, name: 'npm start --with-agent demo' },
    });
    mkdirSync(opts.stateDir, { recursive: true });
    writeFileSync(tokenFile, `${data.token}\n`, { mode: 0o600 });
    opts.log(`[demo] registered device ${deviceId}`);
  } catch (err) {
    const exists = err instanceof CliError && err.status === 409;
    if (!exists) throw err;
    // Kept from an earlier run (state persists); its token was saved then.
    if (!existsSync(tokenFile))
      throw new Error(`device ${deviceId} exists but its token file ${tokenFile} is gone; run once with --fresh`);
  }
  await api.call('putTargetState', { params: { deviceId }, body: demoTarget() });
  opts.log(
    `[demo] target for ${deviceId}: web (busybox httpd, good) + worker (image tag that does not exist → ImagePullBackOff)`,
  );

  const agentDir = join(opts.stateDir, `agent-${deviceId}`);
  const child = spawn(
    process.execPath,
    [
      AGENT_BIN,
      'run',
      '--api-url',
      opts.fleet.apiUrl,
      '--device-id',
      deviceId,
      '--token-file',
      tokenFile,
      '--state-dir',
      agentDir,
      '--agent-id',
      `local-${deviceId}`,
      // Commands reach it at once over the push channel; polling stays the fallback.
      ...(opts.fleet.push ? ['--push-url', opts.fleet.push.url] : []),
    ],
    // From source: a dist/ bundle left by an earlier build may be stale.
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FLEETMEDIC_AGENT_FROM_SOURCE: '1' } },
  );
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (l) => opts.log(`[agent ${deviceId}] ${l}`));
  }
  child.on('exit', (code, signal) => opts.log(`[agent ${deviceId}] exited (${signal ?? `code ${code}`})`));
  opts.log(`[demo] agent started (state in ${agentDir}). Try: npx fleetmedic device ${deviceId}`);
  opts.log(
    `[demo] then fix the bad tag and watch it self-heal: npx fleetmedic target ${deviceId} --file ${join(opts.stateDir, 'demo-target-fixed.json')}`,
  );
  return {
    deviceId,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 25_000);
      await exited;
      clearTimeout(t);
    },
  };
}
