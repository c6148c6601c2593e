/**
 * `fleetmedic-agent` command line.
 *
 *   run [--dry-run] [--once] [--log-json] [--target-file f] [--state-dir d] [--api-url u --device-id id --token-file f]
 *   status [--json]          reads health.json
 *   stop <service>           manual-stop marker + stops the container (reconcile and recovery leave it alone)
 *   start <service>          removes the marker (the agent brings the service back at once)
 *   retry <service>          retry now: skip the service's backoff and CrashLoopBackOff wait (offline retry-now)
 * SIGHUP to a running agent: re-read the target and retry every service now.
 *
 * Exit codes: 0 ok · 1 runtime failure (a `--once` cycle that did not converge, engine errors) · 2 configuration
 * error (bad flags, invalid target file, state directory locked by another agent).
 *
 * A little over the ~400 lines a file keeps to: the commands share one option parser, the state-directory
 * lookup and the exit codes below.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { Agent } from './agent.js';
import { systemClock } from './clock.js';
import { ConfigError, defaultConfig, validateConfig, AGENT_VERSION, type AgentConfig } from './config.js';
import { dockerFromHost } from './engine/docker.js';
import { listOwnedContainers } from './engine/observe.js';
import { Executor } from './engine/executor.js';
import { defaultNamePrefix } from './engine/names.js';
import { createLogger, type Logger } from './log.js';
import { type HealthFile, readHealthFile } from './output/health-file.js';
import { DEFAULT_STATE_DIR } from './state/state-dir.js';
import { LockContendedError, LockHeldError, pidAlive, readLock } from './state/lock.js';
import { MarkerStore } from './state/markers.js';
import { RequestQueue } from './state/requests.js';
import { join } from 'node:path';
import { ServiceName } from '#contract/common.js';
import { wire } from './wiring.js';
import { AGENT_RUNTIME_FLAGS } from './node-flags.js';
import * as z from 'zod/mini';

export const EXIT = { ok: 0, runtime: 1, config: 2 } as const;

interface CommonOpts {
  stateDir?: string;
  agentId?: string;
  namePrefix?: string;
}
interface RunOpts extends CommonOpts {
  dryRun?: boolean;
  once?: boolean;
  logJson?: boolean;
  logLevel?: string;
  targetFile?: string;
  apiUrl?: string;
  deviceId?: string;
  tokenFile?: string;
  pushUrl?: string;
  interval?: string;
  metricsFile?: string;
}

function seconds(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`${flag} must be a positive number of seconds`);
  return n * 1000;
}

/** Flags over environment over defaults. */
export function resolveConfig(o: RunOpts, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const stateDir = o.stateDir ?? env.FLEETMEDIC_STATE_DIR ?? DEFAULT_STATE_DIR;
  const apiUrl = o.apiUrl ?? env.FLEETMEDIC_API_URL;
  const deviceId = o.deviceId ?? env.FLEETMEDIC_DEVICE_ID;
  const tokenFile = o.tokenFile ?? env.FLEETMEDIC_TOKEN_FILE;
  const pushUrl = o.pushUrl ?? (env.FLEETMEDIC_PUSH_URL || undefined);
  const metricsFile = o.metricsFile ?? env.FLEETMEDIC_METRICS_FILE;
  const intervalMs = seconds(o.interval ?? env.FLEETMEDIC_INTERVAL_SECONDS, '--interval');
  const targetFile = o.targetFile ?? env.FLEETMEDIC_TARGET_FILE;
  const agentId = o.agentId ?? env.FLEETMEDIC_AGENT_ID;
  const base = defaultConfig({ stateDir, ...(agentId ? { agentId } : {}) });
  return validateConfig({
    ...base,
    dryRun: !!o.dryRun,
    once: !!o.once,
    namePrefix: o.namePrefix ?? env.FLEETMEDIC_NAME_PREFIX ?? base.namePrefix,
    ...(env.DOCKER_HOST ? { dockerHost: env.DOCKER_HOST } : {}),
    ...(targetFile ? { targetFile } : {}),
    ...(intervalMs ? { intervalMs } : {}),
    ...(metricsFile ? { metricsFile } : {}),
    ...(apiUrl || deviceId || tokenFile
      ? {
          cloud: {
            apiUrl: apiUrl ?? '',
            deviceId: deviceId ?? '',
            tokenFile: tokenFile ?? '',
            ...(pushUrl ? { pushUrl } : {}),
          },
        }
      : {}),
  });
}

async function runCommand(o: RunOpts, io: CliIo): Promise<number> {
  // Idle memory (bench/suites/agent.ts): The running agent repeats a few small functions every couple
  // of seconds (health checks, cycles). V8's compilers (TurboFan, Sparkplug) would compile them, touching ~6 MB
  // more of node's own code and code space for a speed-up an agent that sleeps 99 % of the time does not need:
  // the interpreter is plenty (idle CPU stays well under 1 % of a core). The systemd unit passes these flags on
  // node's command line (AGENT_NODE_FLAGS, agent/src/node-flags.ts), which also covers node's own bootstrap and spares
  // loading node:v8 (~1 MB); started any other way, the agent sets them itself (all but the heap sizing, which only
  // node's command line can set). FLEETMEDIC_V8_OPT=1 keeps them on.
  if (process.env.FLEETMEDIC_V8_OPT !== '1' && !AGENT_RUNTIME_FLAGS.every((f) => process.execArgv.includes(f))) {
    const { setFlagsFromString } = await import('node:v8');
    for (const flag of AGENT_RUNTIME_FLAGS) setFlagsFromString(flag);
  }
  // zod compiles a fast path per object schema with `new Function` on first parse; for the few small documents
  // an agent parses per minute that generated code is memory spent for nothing (measured: ~2 MB of RSS over 30
  // object schemas parsed once).
  z.config({ jitless: true });
  const config = resolveConfig(o);
  const log = io.logger ?? createLogger({ json: !!o.logJson, ...(o.logLevel ? { level: o.logLevel } : {}) });
  const docker = dockerFromHost(config.dockerHost);
  const wiring = await wire(config, { docker, log, clock: systemClock });
  // An invalid target file is a configuration error at start (later edits only log and keep the last target).
  if (wiring.targetProvider && config.targetFile) await wiring.targetProvider.fetch();
  // SIGHUP's default would end the process: handled from before the lock is taken (the lock is how the CLI
  // finds this process), and queued until the agent exists.
  let agent: Agent | undefined;
  let hupBeforeStart = false;
  const onHup = () => {
    log.info('SIGHUP: re-reading the target and retrying now');
    if (agent) agent.hangup();
    else hupBeforeStart = true;
  };
  process.on('SIGHUP', onHup);
  try {
    agent = await Agent.open({ config, docker, log, ...wiring });
  } catch (err) {
    process.off('SIGHUP', onHup);
    throw err;
  }
  log.info(
    {
      version: AGENT_VERSION,
      stateDir: config.stateDir,
      agentId: config.agentId,
      dryRun: config.dryRun,
      once: config.once,
    },
    'fleetmedic-agent starting',
  );
  return runAgent(agent, config, log, onHup, () => hupBeforeStart);
}

async function runAgent(
  agent: Agent,
  config: AgentConfig,
  log: Logger,
  onHup: () => void,
  hupBeforeStart: () => boolean,
): Promise<number> {
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn({ sig }, 'second signal: exiting now');
      agent.state.lock?.releaseSync();
      process.exit(EXIT.runtime);
    }
    log.info({ sig }, 'shutting down');
    void agent.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const releaseOnExit = () => agent.state.lock?.releaseSync();
  process.on('exit', releaseOnExit);
  try {
    if (hupBeforeStart()) agent.hangup();
    const first = await agent.start();
    if (config.once) {
      await agent.stop();
      return first.success ? EXIT.ok : EXIT.runtime;
    }
    await agent.whenStopped();
    return EXIT.ok;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('SIGHUP', onHup);
    process.off('exit', releaseOnExit);
  }
}

async function statusCommand(o: CommonOpts & { json?: boolean }, io: CliIo): Promise<number> {
  const stateDir = o.stateDir ?? process.env.FLEETMEDIC_STATE_DIR ?? DEFAULT_STATE_DIR;
  const path = join(stateDir, 'health.json');
  let h: HealthFile;
  try {
    h = await readHealthFile(path);
  } catch (err) {
    io.err(`cannot read ${path}: ${(err as Error).message}\n`);
    return EXIT.config;
  }
  if (o.json) {
    io.out(`${JSON.stringify(h, null, 2)}\n`);
    return h.success ? EXIT.ok : EXIT.runtime;
  }
  const lock = await readLock(join(stateDir, 'agent.lock'));
  io.out(
    `agent ${h.agent.agentId} (pid ${h.agent.pid}, ${lock && pidAlive(lock.pid) ? 'running' : 'not running'}) · last run ${h.lastRun} · ${h.success ? 'OK' : 'NOT OK'} · cycle ${h.cycle} in ${h.durationMs} ms\n`,
  );
  io.out(
    `target ${h.target.version ?? '(none)'}${h.target.source ? ` from ${h.target.source}` : ''}${h.target.error ? ` — ${h.target.error}` : ''}\n`,
  );
  if (h.engine.error) io.out(`engine: ${h.engine.error}\n`);
  for (const f of h.state?.failures ?? [])
    io.out(
      `state: ${f.store} NOT SAVED since ${f.since} (${f.failedAttempts} attempts, retried every cycle): ${f.message}\n`,
    );
  for (const s of h.services) {
    const e = s.error;
    const err = e
      ? `  ${e.type}${e.permanent ? ' (permanent)' : ''}${e.quarantined ? ' (quarantined)' : ''}: ${e.message} · retries ${e.retryCount}${e.nextRetry ? ` · next ${e.nextRetry}` : ''}`
      : '';
    io.out(`  ${s.name.padEnd(20)} ${s.status.padEnd(16)} restarts ${s.restartCount}${err}\n`);
  }
  return h.success ? EXIT.ok : EXIT.runtime;
}

/** The running agent, if any (its lock names a live process). */
async function runningAgentPid(stateDir: string): Promise<number | undefined> {
  const lock = await readLock(join(stateDir, 'agent.lock'));
  return lock && lock.pid !== process.pid && pidAlive(lock.pid) ? lock.pid : undefined;
}

/** Asks the running agent to reconcile at once instead of at the next tick (state/requests.ts). */
async function nudgeAgent(stateDir: string): Promise<void> {
  await new RequestQueue(stateDir).add({ kind: 'reconcile' }).catch(() => {});
}

/** `retry <service>`: offline retry-now. The running agent takes the request at once; otherwise when it starts. */
async function retryCommand(service: string, o: CommonOpts, io: CliIo): Promise<number> {
  if (!ServiceName.safeParse(service).success) {
    io.err(`invalid service name '${service}'\n`);
    return EXIT.config;
  }
  const stateDir = o.stateDir ?? process.env.FLEETMEDIC_STATE_DIR ?? DEFAULT_STATE_DIR;
  await new RequestQueue(stateDir).add({ kind: 'retry', service });
  const pid = await runningAgentPid(stateDir);
  io.out(
    pid
      ? `${service}: retry requested; the agent (pid ${pid}) retries it now, skipping its backoff and CrashLoopBackOff wait\n`
      : `${service}: retry requested; no agent is running on ${stateDir}, it retries when it starts\n`,
  );
  return EXIT.ok;
}

async function markerCommand(
  kind: 'stop' | 'start',
  service: string,
  o: CommonOpts & { reason?: string },
  io: CliIo,
): Promise<number> {
  const name = ServiceName.safeParse(service);
  if (!name.success) {
    io.err(`invalid service name '${service}'\n`);
    return EXIT.config;
  }
  const stateDir = o.stateDir ?? process.env.FLEETMEDIC_STATE_DIR ?? DEFAULT_STATE_DIR;
  const markers = new MarkerStore(stateDir);
  if (kind === 'start') {
    const removed = await markers.clear(service);
    io.out(
      removed
        ? `${service}: manual-stop marker removed; the agent brings it back\n`
        : `${service}: had no manual-stop marker\n`,
    );
    await nudgeAgent(stateDir);
    return EXIT.ok;
  }
  // The marker first: from this moment neither reconcile nor recovery restarts the service.
  await markers.set(service, { by: process.env.USER ?? 'cli', ...(o.reason ? { reason: o.reason } : {}) });
  const agentId = o.agentId ?? process.env.FLEETMEDIC_AGENT_ID ?? 'default';
  const docker = dockerFromHost(process.env.DOCKER_HOST);
  let code: number = EXIT.ok;
  try {
    const exec = new Executor({
      docker,
      agentId,
      namePrefix: o.namePrefix ?? defaultNamePrefix(agentId),
      stopTimeoutSeconds: 10,
      pullTimeoutMs: 0,
    });
    const mine = (await listOwnedContainers(docker, agentId)).filter((c) => c.service === service);
    for (const c of mine) await exec.stop(c.id);
    io.out(
      `${service}: manual-stop marker set${mine.length ? `, ${mine.length} container(s) stopped` : ' (no container running)'}\n`,
    );
  } catch (err) {
    io.err(`${service}: marker set, but stopping the container failed: ${(err as Error).message}\n`);
    code = EXIT.runtime;
  }
  await nudgeAgent(stateDir);
  return code;
}

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
  logger?: Logger;
}

const defaultIo: CliIo = { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) };

export async function main(argv: string[] = process.argv.slice(2), io: CliIo = defaultIo): Promise<number> {
  let code: number = EXIT.ok;
  const program = new Command('fleetmedic-agent')
    .description('Fleetmedic edge agent: reconciles containers, recovers them, reports to the cloud.')
    .version(AGENT_VERSION)
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });
  const common = (c: Command) =>
    c
      .option('--state-dir <dir>', `state directory (env FLEETMEDIC_STATE_DIR, default ${DEFAULT_STATE_DIR})`)
      .option(
        '--agent-id <id>',
        'ownership label value io.fleetmedic.agent, part of container names (env FLEETMEDIC_AGENT_ID, default "default"); one per agent on an engine',
      )
      .option(
        '--name-prefix <prefix>',
        'container name prefix (env FLEETMEDIC_NAME_PREFIX, default fleetmedic_<agent id>_)',
      );
  common(
    program
      .command('run')
      .description('reconcile continuously (or once)')
      .option('--dry-run', 'plan and print, change nothing (no lock, no state writes)')
      .option('--once', 'run one cycle and exit (0 converged, 1 not)')
      .option('--log-json', 'JSON log lines')
      .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error']))
      .option('--target-file <file>', 'target state JSON (offline / local; env FLEETMEDIC_TARGET_FILE)')
      .option('--api-url <url>', 'control-plane API (env FLEETMEDIC_API_URL)')
      .option('--device-id <id>', 'device id (env FLEETMEDIC_DEVICE_ID)')
      .option('--token-file <file>', 'file holding the device token (env FLEETMEDIC_TOKEN_FILE)')
      .option(
        '--push-url <url>',
        'push channel WebSocket URL: sync as soon as the cloud has something (env FLEETMEDIC_PUSH_URL; polling continues either way)',
      )
      .option('--interval <seconds>', 'reconcile interval (default 30)')
      .option('--metrics-file <file>', 'Prometheus textfile path'),
  ).action(async (o: RunOpts) => {
    code = await runCommand(o, io);
  });
  common(
    program.command('status').description('print the last cycle from health.json').option('--json', 'raw health.json'),
  ).action(async (o) => {
    code = await statusCommand(o, io);
  });
  common(
    program
      .command('stop <service>')
      .description('manual stop: set the marker and stop the container')
      .option('--reason <text>', 'why'),
  ).action(async (service: string, o) => {
    code = await markerCommand('stop', service, o, io);
  });
  common(program.command('start <service>').description('remove the manual-stop marker')).action(
    async (service: string, o) => {
      code = await markerCommand('start', service, o, io);
    },
  );
  common(
    program
      .command('retry <service>')
      .description("retry now: skip the service's backoff / CrashLoopBackOff wait (SIGHUP retries all)"),
  ).action(async (service: string, o) => {
    code = await retryCommand(service, o, io);
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
        return EXIT.ok;
      return EXIT.config;
    }
    if (err instanceof ConfigError || err instanceof LockHeldError || err instanceof LockContendedError) {
      io.err(`fleetmedic-agent: ${err.message}\n`);
      return EXIT.config;
    }
    io.err(`fleetmedic-agent: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT.runtime;
  }
}

/** Run directly (`tsx agent/src/cli.ts`), not imported (tests, main.ts, the bundle where this module is inlined). */
function isEntry(): boolean {
  try {
    const arg = process.argv[1];
    return !!arg && /[\\/]cli\.(ts|js|mjs)$/.test(arg) && import.meta.url === pathToFileURL(realpathSync(arg)).href;
  } catch {
    return false;
  }
}

if (isEntry()) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(EXIT.runtime);
    },
  );
}
