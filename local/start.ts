/**
 * `npm start`: the whole Fleetmedic control plane on this machine.
 *   - no AWS configuration needed: starts moto_server itself (or uses AWS_ENDPOINT_URL, e.g. LocalStack);
 *   - provisions the tables/queues/DLQs/topic, the operator token and Slack webhook secrets;
 *   - runs the real handlers behind a local API Gateway, SQS pollers and schedules; prints alerts;
 *   - keeps its data in .fleetmedic/ between runs (unless --fresh); Ctrl-C shuts down cleanly.
 */
import { localStageThrottle } from './stage-throttle.js';
import { Command, InvalidArgumentError } from 'commander';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { applyAwsTestEnv, startMoto, type Emulator } from './moto.js';
import { startFleet, type Fleet } from './fleet.js';
import { signalHandler, startPeriodicSave } from './shutdown.js';
import { countDump, dumpState, loadState, readDumpFile, writeDumpFile } from './state-dump.js';
import { newOperatorToken } from './secrets.js';
import { demoTarget } from './demo-target.js';
import { startDemoAgent, type DemoAgent } from './demo-agent.js';
import { bannerLines } from './banner.js';
import {
  processAlive,
  readLocalConfig,
  removeStateDirPointer,
  writeLocalConfig,
  writeStateDirPointer,
  STATE_DIR_NAME,
} from '../functions/cli/local-config.js';

const ROOT = join(import.meta.dirname, '..');
const PREFIX = 'fleetmedic';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number`);
  return n;
};

const program = new Command('npm start --')
  .description('Run the Fleetmedic control plane locally: emulated AWS, API, queues, schedules, Slack receiver.')
  .option('--port <n>', 'API port', int('--port'), Number(process.env.PORT ?? 4280))
  .option(
    '--push-port <n>',
    'push channel (WebSocket API) port',
    int('--push-port'),
    Number(process.env.PUSH_PORT ?? 4281),
  )
  .option('--fresh', 'start with empty state (discard .fleetmedic/state.json)', false)
  .option(
    '--schedule-seconds <n>',
    'interval of the health evaluator, outbox publisher and timeout sweeper',
    int('--schedule-seconds'),
    60,
  )
  .option(
    '--slack-webhook <url>',
    'post alerts to this real Slack incoming webhook (env FLEETMEDIC_SLACK_WEBHOOK_URL)',
    process.env.FLEETMEDIC_SLACK_WEBHOOK_URL,
  )
  .option(
    '--with-agent',
    'also run one agent (device "demo-1") against the local Docker engine with a demo target',
    false,
  )
  .option(
    '--state-dir <dir>',
    'where local state lives',
    process.env.FLEETMEDIC_LOCAL_DIR ?? join(ROOT, STATE_DIR_NAME),
  )
  .option('--verbose', 'show handler logs and metrics, and every API request', false)
  .addHelpText(
    'after',
    `
Environment:
  AWS_ENDPOINT_URL               use this emulator (e.g. LocalStack) instead of starting moto_server
  FLEETMEDIC_SLACK_WEBHOOK_URL   same as --slack-webhook
  DOCKER_HOST                    engine for --with-agent (container-lab: eval "$(../shared/tools/container-lab up)")`,
  );
program.parse();
const opts = program.opts<{
  port: number;
  pushPort: number;
  fresh: boolean;
  scheduleSeconds: number;
  slackWebhook?: string;
  withAgent: boolean;
  stateDir: string;
  verbose: boolean;
}>();

const out = (l = '') => process.stdout.write(`${l}\n`);
const err = (l: string) => process.stderr.write(`${l}\n`);
/** How often a running local fleet snapshots its tables (what a crash can lose at most). */
const SNAPSHOT_INTERVAL_MS = 60_000;
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[22m` : s);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[22m` : s);

async function main(): Promise<void> {
  if (opts.scheduleSeconds < 1) throw new Error('--schedule-seconds must be at least 1');
  const stateDir = opts.stateDir;
  const previous = readLocalConfig(stateDir);
  if (previous?.pid && previous.pid !== process.pid && processAlive(previous.pid)) {
    throw new Error(
      `another local fleet is running (pid ${previous.pid}, API ${previous.apiUrl}). Stop it with Ctrl-C first.`,
    );
  }
  const dumpFile = join(stateDir, 'state.json');
  if (opts.fresh && existsSync(dumpFile)) rmSync(dumpFile);

  // 1. The AWS endpoint.
  let emulator: Emulator | undefined;
  const external = process.env.AWS_ENDPOINT_URL;
  if (external) {
    applyAwsTestEnv(external);
    out(dim(`Using the AWS endpoint ${external} (AWS_ENDPOINT_URL); its own persistence applies.`));
  } else {
    // A previous run that crashed may have left its emulator behind.
    if (previous?.emulatorPid && !processAlive(previous.pid) && processAlive(previous.emulatorPid)) {
      try {
        process.kill(previous.emulatorPid, 'SIGTERM');
      } catch {
        /* gone meanwhile */
      }
    }
    out(dim('Starting moto_server (AWS emulator)...'));
    emulator = await startMoto({ detached: true, serialised: true });
    applyAwsTestEnv(emulator.endpoint);
  }
  const endpoint = process.env.AWS_ENDPOINT_URL!;

  // 2. The control plane.
  const operatorToken = !opts.fresh && previous?.operatorToken ? previous.operatorToken : newOperatorToken();
  let fleet: Fleet;
  try {
    fleet = await startFleet({
      prefix: PREFIX,
      operatorToken,
      apiPort: opts.port,
      push: { port: opts.pushPort },
      scheduleSeconds: opts.scheduleSeconds,
      slackWebhookUrl: opts.slackWebhook,
      verbose: opts.verbose,
      // Short long-polls: Ctrl-C drains the pollers (waits for a poll in progress) before saving state.
      pollWaitSeconds: 5,
      // The deployed stage's throttle, derived from the default fleetSize (cdk/lib/stage-config.ts).
      throttle: localStageThrottle(),
      log: err,
      onAccess: opts.verbose ? (e) => err(dim(`[api] ${e.method} ${e.path} ${e.status} ${e.ms} ms`)) : undefined,
    });
  } catch (e) {
    await emulator?.stop();
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new Error(
        `port ${opts.port} or ${opts.pushPort} is already in use; choose others with --port / --push-port`,
      );
    throw e;
  }

  // 3. Yesterday's data (only into an emulator we started: an external one keeps its own).
  let restored = '';
  if (emulator) {
    const dump = readDumpFile(dumpFile);
    if (dump) {
      const counts = await loadState(dump, fleet.env);
      restored = `restored ${counts.items} items and ${counts.messages} queued messages from ${rel(dumpFile)} (dumped ${dump.dumpedAt})`;
    }
  }

  writeLocalConfig(
    {
      apiUrl: fleet.apiUrl,
      operatorToken,
      prefix: PREFIX,
      endpoint,
      pid: process.pid,
      emulatorPid: emulator?.pid?.(),
      startedAt: new Date().toISOString(),
    },
    stateDir,
  );
  // Started elsewhere (--state-dir): leave a pointer where the CLI looks by default, so `npx fleetmedic` finds us.
  const defaultDir = join(ROOT, STATE_DIR_NAME);
  const elsewhere = resolve(stateDir) !== resolve(defaultDir);
  if (elsewhere) writeStateDirPointer(defaultDir, { stateDir: resolve(stateDir), pid: process.pid });
  const demoTargetFile = join(stateDir, 'demo-target.json');
  writeFileSync(demoTargetFile, `${JSON.stringify(demoTarget(), null, 2)}\n`);
  writeFileSync(
    join(stateDir, 'demo-target-fixed.json'),
    `${JSON.stringify(demoTarget(undefined, { fixed: true }), null, 2)}\n`,
  );

  let agent: DemoAgent | undefined;
  // A crash (kill -9, a closed laptop lid that never wakes) loses at most a minute: the tables are snapshotted
  // every minute. Queued messages are only in the full dump made on Ctrl-C (reading them empties the queue).
  const periodic = emulator
    ? startPeriodicSave(
        async () => writeDumpFile(dumpFile, await dumpState(fleet.env, undefined, {}, { tablesOnly: true })),
        SNAPSHOT_INTERVAL_MS,
        (e) => err(`periodic state save failed (next try in a minute): ${(e as Error).message}`),
      )
    : undefined;
  const shutdown = async (): Promise<number> => {
    try {
      await periodic?.stop();
      await agent?.stop();
      await fleet.close({ releaseFailed: true });
      if (emulator) {
        const dump = await dumpState(fleet.env);
        writeDumpFile(dumpFile, dump);
        const c = countDump(dump);
        out(`Saved ${c.items} items and ${c.messages} queued messages to ${rel(dumpFile)}.`);
        await emulator.stop();
      }
      writeLocalConfig(
        { ...readLocalConfig(stateDir)!, pid: undefined, emulatorPid: undefined, stoppedAt: new Date().toISOString() },
        stateDir,
      );
      if (elsewhere) removeStateDirPointer(defaultDir, process.pid);
      out('Stopped.');
      return 0;
    } catch (e) {
      err(`shutdown failed: ${(e as Error).stack ?? e}`);
      await emulator?.stop();
      return 1;
    }
  };
  const onSignal = signalHandler({ shutdown, out: err, exit: (code) => process.exit(code) });
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  for (const line of bannerLines({
    fleet,
    endpoint,
    restored,
    demoTargetFile,
    stateDir,
    scheduleSeconds: opts.scheduleSeconds,
    fresh: opts.fresh,
    withAgent: opts.withAgent,
    bold,
    dim,
  }))
    out(line);

  if (opts.withAgent) {
    try {
      agent = await startDemoAgent({ fleet, stateDir, log: out });
    } catch (e) {
      err(`--with-agent: ${(e as Error).message}`);
    }
  }
}

function rel(p: string): string {
  const r = relative(process.cwd(), p);
  return r.startsWith('..') ? p : r;
}

main().catch((e) => {
  err(`npm start: ${(e as Error).message}`);
  if (opts.verbose) err((e as Error).stack ?? '');
  process.exit(1);
});
