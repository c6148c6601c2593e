/**
 * `fleetmedic`, the operator CLI: command definitions and the run loop (no process.exit here, so tests run it
 * in-process and check the exit code).
 *
 * Longer than the ~400 lines a file keeps to: the commands that predate functions/cli/commands/ are still
 * defined here, one short block each, on the shared client, output and exit-code helpers at the end. New commands
 * go into a file of their own under functions/cli/commands/ and add one registration line here.
 */
import { Command, CommanderError, InvalidArgumentError as CommanderInvalid, Option } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import {
  IN_PROGRESS_TIMEOUT_MAX_SECONDS,
  IN_PROGRESS_TIMEOUT_MIN_SECONDS,
  JOB_TYPES,
  TERMINAL_JOB_STATUSES,
  type Job,
  type JobStatus,
} from '../contract/jobs.js';
import type * as z from 'zod/mini';
import type {
  CircuitResetResponse,
  DeadLetterList,
  DeviceDetail,
  DeviceList,
  HealthResponse,
  Marker,
  RecentEvents,
  RedriveResponse,
  RegisterDeviceResponse,
  SilenceList,
  SilenceView,
} from '../contract/operator.js';
import type { TargetStateDocument } from '../contract/target-state.js';
import { ApiClient } from './api-client.js';
import { resolveConnection } from './connection.js';
import { CliError, EXIT, EXIT_CODES_HELP, usageError, type ExitCode } from './errors.js';
import { parseDuration, type Style } from './format.js';
import * as views from './views.js';
import {
  DEFAULT_TOKEN_OVERLAP_SECONDS,
  MAX_TOKEN_OVERLAP_SECONDS,
  type DecommissionedDevice,
  type RotatedDeviceToken,
} from '../contract/credentials.js';
import { decommissionedView, rotatedView, writeTokenFile } from './device-lifecycle.js';
import { registerRolloutCommands } from './commands/rollout.js';
import { registerStatsCommands } from './commands/stats.js';
import { registerOperationsCommands } from './commands/operations.js';

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Record<string, string | undefined>;
  now: () => number;
  color: boolean;
  /** Override the HTTP client (tests). */
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

interface GlobalOpts {
  apiUrl?: string;
  token?: string;
  auth?: string;
  json?: boolean;
  color?: boolean;
  timeout: number;
}

export function buildProgram(io: CliIo): Command {
  const program = new Command('fleetmedic')
    .description('Operate a Fleetmedic fleet: device health, jobs, circuit breakers, dead letters, silences.')
    .version('0.1.0')
    .option('--api-url <url>', 'API base URL (default: the local fleet from `npm start`; env FLEETMEDIC_API_URL)')
    .option('--token <token>', "operator bearer token (env FLEETMEDIC_OPERATOR_TOKEN; default: the local fleet's)")
    .addOption(
      new Option('--auth <mode>', 'how to authenticate (default: bearer when a token is known, else iam)').choices([
        'iam',
        'bearer',
      ]),
    )
    .option('--json', 'machine-readable JSON output')
    .option('--no-color', 'plain output without ANSI colours')
    .option('--timeout <seconds>', 'per-request timeout', (v) => positiveNumber(v, '--timeout'), 30)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Connection:
  Locally, \`npm start\` writes .fleetmedic/local.json and the CLI uses it (URL and operator token); a fleet
  started with --state-dir <dir> is found too, or set FLEETMEDIC_LOCAL_DIR=<dir>.
  Against a deployed stack, pass --api-url (or FLEETMEDIC_API_URL); requests are signed with SigV4 using
  the default AWS credential chain (AWS_PROFILE, SSO, environment, instance roles).
${EXIT_CODES_HELP}`,
    );

  program.exitOverride();
  program.configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });

  const ctx = (cmd: Command) => {
    const g = cmd.optsWithGlobals<GlobalOpts>();
    const style: Style = { color: io.color && g.color !== false && !g.json };
    const client = () =>
      new ApiClient(resolveConnection({ apiUrl: g.apiUrl, token: g.token, auth: g.auth }, io.env), {
        timeoutMs: g.timeout * 1000,
        fetch: io.fetch,
        sleep: io.sleep,
      });
    const emit = (data: unknown, human: () => string) =>
      io.stdout(`${g.json ? JSON.stringify(data, null, 2) : human()}\n`);
    return { g, style, client, emit, now: io.now() };
  };

  program
    .command('health')
    .description('check that the API answers (public route)')
    .action(async (_o, cmd: Command) => {
      const { client, emit } = ctx(cmd);
      const api = client();
      const { data } = await api.call<z.output<typeof HealthResponse>>('getHealth');
      emit(
        data,
        () => `API ${api.connection.apiUrl} is ${data.status} (version ${data.version}, server time ${data.time}).`,
      );
    });

  program
    .command('devices')
    .description('every device: health, circuit, last seen, error badges with retry countdowns')
    .option('--limit <n>', 'devices per page (1-500)', (v) => positiveInt(v, '--limit'), 100)
    .option('--next-token <token>', 'page token from a previous --json answer')
    .action(async (o: { limit: number; nextToken?: string }, cmd: Command) => {
      const { client, emit, now, style } = ctx(cmd);
      const { data } = await client().call<z.output<typeof DeviceList>>('listDevices', {
        query: { limit: o.limit, nextToken: o.nextToken },
      });
      emit(data, () => views.devicesView(data, now, style));
    });

  const device = program.command('device').description('one device: show it, rotate its token, decommission it');
  device
    .command('show', { isDefault: true })
    .description(
      'one device in detail: services, errors and what was tried, circuit, markers, recent events (`fleetmedic device <device-id>` works too)',
    )
    .argument('<device-id>')
    .action(async (deviceId: string, _o, cmd: Command) => {
      const { client, emit, now, style } = ctx(cmd);
      const { data } = await client().call<z.output<typeof DeviceDetail>>('getDevice', { params: { deviceId } });
      emit(data, () => views.deviceView(data, now, style));
    });
  device
    .command('rotate-token')
    .description('mint a new device token (shown once); the old one keeps working for --overlap')
    .argument('<device-id>')
    .option(
      '--overlap <seconds>',
      `how long the old token keeps working (0-${MAX_TOKEN_OVERLAP_SECONDS}; 0 = revoke it now)`,
      (v) => wholeNumberIn(v, '--overlap', 0, MAX_TOKEN_OVERLAP_SECONDS),
      DEFAULT_TOKEN_OVERLAP_SECONDS,
    )
    .option('--token-file <file>', 'write the new token to this file (atomically, mode 600) instead of printing it')
    .action(async (deviceId: string, o: { overlap: number; tokenFile?: string }, cmd: Command) => {
      const { client, emit, style } = ctx(cmd);
      const { data } = await client().call<z.output<typeof RotatedDeviceToken>>('rotateDeviceToken', {
        params: { deviceId },
        body: { overlapSeconds: o.overlap },
      });
      if (o.tokenFile) writeTokenFile(o.tokenFile, data.token);
      emit(o.tokenFile ? { ...data, token: undefined, tokenFile: o.tokenFile } : data, () =>
        rotatedView(data, o.tokenFile, style),
      );
    });
  device
    .command('remove')
    .description(
      'decommission a device: tokens stop working, open jobs are cancelled, it stops counting as offline, its data expires',
    )
    .argument('<device-id>')
    .action(async (deviceId: string, _o, cmd: Command) => {
      const { client, emit, style } = ctx(cmd);
      const { data } = await client().call<z.output<typeof DecommissionedDevice>>('decommissionDevice', {
        params: { deviceId },
      });
      emit(data, () => decommissionedView(data, style));
    });

  program
    .command('events')
    .description('recent fleet events, newest first (command.failed, circuit.opened, alert.raised...)')
    .option('--device <device-id>', 'only this device')
    .option('--type <type>', 'only this event type, e.g. circuit.opened')
    .option('--limit <n>', 'how many (1-500)', (v) => positiveInt(v, '--limit'), 50)
    .action(async (o: { device?: string; type?: string; limit: number }, cmd: Command) => {
      const { client, emit, now, style } = ctx(cmd);
      const { data } = await client().call<z.output<typeof RecentEvents>>('getRecentEvents', {
        query: { deviceId: o.device, type: o.type, limit: o.limit },
      });
      emit(data, () => views.eventsView(data.events, now, style));
    });

  registerStatsCommands(program, { ctx });
  registerRolloutCommands(program, { ctx, io });

  const jobs = program.command('jobs').description('enqueue commands for devices and follow them');
  jobs
    .command('enqueue')
    .description(`enqueue a command: ${JOB_TYPES.join(', ')}`)
    .argument('<device-id>')
    .argument('<command>', JOB_TYPES.join(' | '))
    .option('--service <name>', 'service (restart-service: required; run-health-check, retry-now: optional)')
    .option('--image <ref>', 'image (pull-image)')
    .option('--target-file <file>', 'target state JSON (set-target-state)')
    .option('--reason <text>', 'why (restart-service)')
    .option(
      '--in-progress-timeout <seconds>',
      `how long each attempt may stay IN_PROGRESS before it is TIMED_OUT (${IN_PROGRESS_TIMEOUT_MIN_SECONDS}-${IN_PROGRESS_TIMEOUT_MAX_SECONDS}; default: per command, 300 or 900)`,
      (v) =>
        wholeNumberIn(v, '--in-progress-timeout', IN_PROGRESS_TIMEOUT_MIN_SECONDS, IN_PROGRESS_TIMEOUT_MAX_SECONDS),
    )
    .option('--wait <seconds>', 'wait until the job is terminal; exit 1 unless it SUCCEEDED', (v) =>
      positiveNumber(v, '--wait'),
    )
    .action(
      async (
        deviceId: string,
        command: string,
        o: {
          service?: string;
          image?: string;
          targetFile?: string;
          reason?: string;
          inProgressTimeout?: number;
          wait?: number;
        },
        cmd: Command,
      ) => {
        const { client, emit, style } = ctx(cmd);
        const body = {
          ...jobCommand(command, o),
          ...(o.inProgressTimeout !== undefined ? { inProgressTimeoutSeconds: o.inProgressTimeout } : {}),
        };
        const api = client();
        const { data } = await api.call<Job>('enqueueJob', { params: { deviceId }, body });
        if (o.wait === undefined) return emit(data, () => views.enqueuedView(data, style));
        const final = await waitForJob(api, data.jobId, o.wait * 1000, io);
        emit(final, () => views.jobView(final, io.now(), style));
        if (final.status !== 'SUCCEEDED')
          throw new CliError(
            `job ${final.jobId} ended ${final.status}`,
            EXIT.apiError,
            `job_${final.status.toLowerCase()}`,
            undefined,
          );
      },
    );
  jobs
    .command('show', { isDefault: true })
    .description('a job with its attempt history (`fleetmedic jobs <job-id>` works too)')
    .argument('<job-id>')
    .action(async (jobId: string, _o, cmd: Command) => {
      const { client, emit, now, style } = ctx(cmd);
      const { data } = await client().call<Job>('getJob', { params: { jobId } });
      emit(data, () => views.jobView(data, now, style));
    });
  jobs
    .command('cancel')
    .description('cancel a job that is not terminal yet')
    .argument('<job-id>')
    .action(async (jobId: string, _o, cmd: Command) => {
      const { client, emit, now, style } = ctx(cmd);
      const { data } = await client().call<Job>('cancelJob', { params: { jobId } });
      emit(data, () => views.jobView(data, now, style));
    });

  program
    .command('circuit')
    .description('device circuit breakers')
    .command('reset')
    .description("close a device's circuit breaker by hand (after fixing the cause)")
    .argument('<device-id>')
    .action(async (deviceId: string, _o, cmd: Command) => {
      const { client, emit, now, style } = ctx(cmd);
      const { data } = await client().call<z.output<typeof CircuitResetResponse>>('resetCircuit', {
        params: { deviceId },
      });
      emit(data, () => views.circuitResetView(data, now, style));
    });

  const dlq = program.command('dlq').description('dead-lettered messages');
  dlq
    .command('list')
    .description('dead letters grouped by failure pattern, with reason and attempt count')
    .addOption(new Option('--queue <queue>', 'which DLQ').choices(['jobs', 'alerts']).default('jobs'))
    .option('--max <n>', 'messages to inspect (1-1000)', (v) => positiveInt(v, '--max'), 100)
    .action(async (o: { queue: string; max: number }, cmd: Command) => {
      const { client, emit, now, style } = ctx(cmd);
      const { data } = await client().call<z.output<typeof DeadLetterList>>('listDeadLetters', {
        query: { queue: o.queue, max: o.max },
      });
      emit(data, () => views.dlqView(data, now, style));
    });
  dlq
    .command('redrive')
    .description('move dead letters back to their source queue (jobs keep their id and history)')
    .addOption(new Option('--queue <queue>', 'which DLQ').choices(['jobs', 'alerts']).default('jobs'))
    .option('--filter <text>', 'only messages whose pattern or reason contains this text')
    .option('--dry-run', 'show what would move; move nothing')
    .option('--rate <per-second>', 'messages per second (1-100)', (v) => positiveInt(v, '--rate'), 10)
    .option('--max <n>', 'at most this many (1-10000)', (v) => positiveInt(v, '--max'), 1000)
    .action(
      async (
        o: { queue: 'jobs' | 'alerts'; filter?: string; dryRun?: boolean; rate: number; max: number },
        cmd: Command,
      ) => {
        const { client, emit, style } = ctx(cmd);
        const body = {
          queue: o.queue,
          ...(o.filter ? { filter: o.filter } : {}),
          dryRun: !!o.dryRun,
          ratePerSecond: o.rate,
          max: o.max,
        };
        const { data } = await client().call<z.output<typeof RedriveResponse>>('redriveDeadLetters', { body });
        emit(data, () => views.redriveView(data, style));
      },
    );

  program
    .command('silence')
    .description(
      'mark a device or one service as in maintenance / manually stopped: no recovery, no alerts, until it expires',
    )
    .argument('<target>', '<device-id> or <device-id>/<service>')
    .requiredOption('--for <duration>', 'how long, e.g. 30m, 2h, 1d (1m to 30d)')
    .option('--reason <text>', 'why (shown to on-call)')
    .addOption(
      new Option('--kind <kind>', 'marker kind').choices(['maintenance', 'manual-stop']).default('maintenance'),
    )
    .action(
      async (
        target: string,
        o: { for: string; reason?: string; kind: 'maintenance' | 'manual-stop' },
        cmd: Command,
      ) => {
        const { client, emit, now } = ctx(cmd);
        const { deviceId, service } = splitTarget(target);
        const seconds = parseDuration(o.for);
        if (seconds === undefined) throw usageError(`--for: cannot read '${o.for}' as a duration (e.g. 30m, 2h, 1d)`);
        const body = {
          ...(service ? { service } : {}),
          kind: o.kind,
          ...(o.reason ? { reason: o.reason } : {}),
          durationSeconds: seconds,
        };
        const { data } = await client().call<Marker>('setMarker', { params: { deviceId }, body });
        emit(data, () => `Silenced: ${views.markerLine(data, now)}`);
      },
    );

  const silencesCmd = program
    .command('silences')
    .description('alert silences: matchers on device, service and alert name; notifications only, recovery goes on');
  silencesCmd
    .command('list', { isDefault: true })
    .description('active, pending and recently ended silences')
    .action(async (_o, cmd: Command) => {
      const { client, emit, now, style } = ctx(cmd);
      const { data } = await client().call<z.output<typeof SilenceList>>('listSilences', {});
      emit(data, () => views.silencesView(data.silences, now, style));
    });
  silencesCmd
    .command('add')
    .description('silence the alerts every matcher matches, e.g. --match deviceId=kiosk-7 --match alertName=~Service.*')
    .requiredOption(
      '--match <matcher>',
      'label (deviceId, service, alertName), operator (=, !=, =~, !~), value; repeat for more',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .requiredOption('--for <duration>', 'how long, e.g. 30m, 2h, 1d (1m to 30d)')
    .requiredOption('--comment <text>', 'why (shown in the list and the audit event)')
    .action(async (o: { match: string[]; for: string; comment: string }, cmd: Command) => {
      const { client, emit, now } = ctx(cmd);
      const seconds = parseDuration(o.for);
      if (seconds === undefined) throw usageError(`--for: cannot read '${o.for}' as a duration (e.g. 30m, 2h, 1d)`);
      const matchers = o.match.map((m) => {
        const parsed = /^(deviceId|service|alertName)(=~|!~|!=|=)(.*)$/.exec(m);
        if (!parsed) throw usageError(`--match ${m}: expected <deviceId|service|alertName><=|!=|=~|!~><value>`);
        return { name: parsed[1]!, op: parsed[2]!, value: parsed[3]!.replace(/^"(.*)"$/, '$1') };
      });
      const { data } = await client().call<z.output<typeof SilenceView>>('createSilence', {
        body: { matchers, durationSeconds: seconds, comment: o.comment },
      });
      emit(data, () => `Silenced: ${views.silenceLine(data, now)}`);
    });
  silencesCmd
    .command('expire')
    .description('end a silence now')
    .argument('<silence-id>')
    .action(async (silenceId: string, _o, cmd: Command) => {
      const { client, emit, now } = ctx(cmd);
      const { data } = await client().call<z.output<typeof SilenceView>>('expireSilence', { params: { silenceId } });
      emit(data, () => `Ended: ${views.silenceLine(data, now)}`);
    });

  program
    .command('unsilence')
    .description('remove a silence (marker) before it expires')
    .argument('<target>', '<device-id> or <device-id>/<service>')
    .action(async (target: string, _o, cmd: Command) => {
      const { client, emit } = ctx(cmd);
      const { deviceId, service } = splitTarget(target);
      await client().call('deleteMarker', { params: { deviceId }, query: { service } });
      emit({ deviceId, service: service ?? null, removed: true }, () => `Removed the marker on ${target}.`);
    });

  program
    .command('register')
    .description('create a device; its token is shown exactly once')
    .argument('<device-id>', 'lowercase letters, digits and dashes')
    .option('--name <name>', 'display name')
    .option('--label <key=value>', 'label (repeatable)', (v, acc: string[]) => [...acc, v], [] as string[])
    .option('--token-file <file>', 'write the token to this file (mode 600) instead of printing it')
    .action(async (deviceId: string, o: { name?: string; label: string[]; tokenFile?: string }, cmd: Command) => {
      const { client, emit, style } = ctx(cmd);
      const labels: Record<string, string> = {};
      for (const l of o.label) {
        const eq = l.indexOf('=');
        if (eq <= 0) throw usageError(`--label must be key=value, not '${l}'`);
        labels[l.slice(0, eq)] = l.slice(eq + 1);
      }
      const api = client();
      const body = { deviceId, ...(o.name ? { name: o.name } : {}), ...(o.label.length ? { labels } : {}) };
      const { data } = await api.call<z.output<typeof RegisterDeviceResponse>>('registerDevice', { body });
      if (o.tokenFile) writeFileSync(o.tokenFile, `${data.token}\n`, { mode: 0o600 });
      emit(o.tokenFile ? { ...data, token: undefined, tokenFile: o.tokenFile } : data, () =>
        views.registeredView(data, api.connection.apiUrl, o.tokenFile, style),
      );
    });

  const registry = program
    .command('registry-credential')
    .description(
      'private registry credentials, stored encrypted in the cloud and handed only to devices whose target names them',
    );
  registry
    .command('set')
    .description('store or rotate a credential (devices get the new one with their next target poll)')
    .argument('<name>', 'lowercase letters, digits and dashes; targets name it in registryCredentials')
    .requiredOption(
      '--registry <host>',
      'registry host[:port] as in image references, e.g. ghcr.io or 127.0.0.1:5001 (docker.io for Docker Hub)',
    )
    .requiredOption('--username <user>', 'registry user name')
    // A file (or - for stdin), never an argument or an environment variable: those end up in shell history and ps.
    .requiredOption(
      '--password-file <file>',
      'file holding the password or token (- reads stdin); trailing newline ignored',
    )
    .action(async (name: string, o: { registry: string; username: string; passwordFile: string }, cmd: Command) => {
      const { client, emit } = ctx(cmd);
      const password = readSecretFile(o.passwordFile);
      const { data } = await client().call<{ name: string; registry: string; created: boolean; updatedAt: string }>(
        'putRegistryCredential',
        {
          params: { name },
          body: { registry: o.registry, username: o.username, password },
        },
      );
      emit(
        data,
        () =>
          `${data.created ? 'Stored' : 'Rotated'} registry credential ${data.name} for ${data.registry}. Name it in a target's "registryCredentials" to hand it to that device.`,
      );
    });
  registry
    .command('delete')
    .description('delete a credential at once; devices whose target names it pull anonymously from then on')
    .argument('<name>')
    .action(async (name: string, _o, cmd: Command) => {
      const { client, emit } = ctx(cmd);
      await client().call('deleteRegistryCredential', { params: { name } });
      emit({ name, deleted: true }, () => `Deleted registry credential ${name}.`);
    });

  program
    .command('target')
    .description("show a device's target state (what it should run), or replace it from a JSON file")
    .argument('<device-id>')
    .option(
      '--file <file>',
      'replace the target with this JSON: {"services": {...}}, or what `target <device-id> --json` printed (then only if the target is still that version)',
    )
    .option(
      '--if-match <version>',
      'replace only if the current target is this version (412 otherwise); default: the version in --file, if any',
    )
    .action(async (deviceId: string, o: { file?: string; ifMatch?: string }, cmd: Command) => {
      const { client, emit, style } = ctx(cmd);
      const api = client();
      if (!o.file) {
        if (o.ifMatch) throw usageError('--if-match needs --file');
        const { data } = await api.call<z.output<typeof DeviceDetail>>('getDevice', { params: { deviceId } });
        if (!data.target)
          throw new CliError(`${deviceId} has no target yet (set one with --file)`, EXIT.apiError, 'not_found');
        emit(data.target, () => views.currentTargetView(data.target!, deviceId, style));
        return;
      }
      const file = readJson(o.file);
      // A document printed by `target <device-id> --json` carries the version it was read at: replacing it is
      // a read-modify-write, so it must not overwrite someone else's change made meanwhile.
      const doc = isTargetDocument(file) ? file : undefined;
      const body = doc ? doc.target : file;
      const ifMatch = o.ifMatch ?? doc?.version;
      const { data } = await api.call<TargetStateDocument>('putTargetState', {
        params: { deviceId },
        body,
        ...(ifMatch ? { headers: { 'if-match': `"${ifMatch}"` } } : {}),
      });
      emit(data, () => views.targetView(data, deviceId, style));
    });

  registerOperationsCommands(program, { ctx });
  return program;
}

/** Run the CLI; resolves with the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<ExitCode> {
  const json = argv.includes('--json');
  // With --json, Commander's own usage errors are collected and answered as JSON like every other error.
  let usageText = '';
  const program = buildProgram(
    json
      ? {
          ...io,
          stderr: (s) => {
            usageText += s;
          },
        }
      : io,
  );
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
        return EXIT.ok;
      const message = (usageText.split('\n')[0] || err.message).replace(/^error: /, '');
      if (json)
        io.stderr(
          `${JSON.stringify({ error: 'usage', message, exitCode: EXIT.usage, details: { commander: err.code } })}\n`,
        );
      // Without --json Commander already printed its message.
      return EXIT.usage;
    }
    const e =
      err instanceof CliError
        ? err
        : new CliError(`unexpected error: ${(err as Error)?.stack ?? String(err)}`, EXIT.apiError, 'internal');
    if (json)
      io.stderr(
        `${JSON.stringify({ error: e.code, message: e.message, exitCode: e.exitCode, ...(e.status ? { status: e.status } : {}), ...(e.details !== undefined ? { details: e.details } : {}) })}\n`,
      );
    else io.stderr(`fleetmedic: ${e.message}\n`);
    return e.exitCode;
  }
}

function jobCommand(
  type: string,
  o: { service?: string; image?: string; targetFile?: string; reason?: string },
): { type: string; params: unknown } {
  switch (type) {
    case 'restart-service':
      if (!o.service) throw usageError('restart-service needs --service <name>');
      return { type, params: { service: o.service, ...(o.reason ? { reason: o.reason } : {}) } };
    case 'pull-image':
      if (!o.image) throw usageError('pull-image needs --image <ref>');
      return { type, params: { image: o.image } };
    case 'set-target-state':
      if (!o.targetFile) throw usageError('set-target-state needs --target-file <file>');
      return { type, params: { target: readJson(o.targetFile) } };
    case 'run-health-check':
    case 'retry-now':
      return { type, params: o.service ? { service: o.service } : {} };
    default:
      throw usageError(`unknown command '${type}'; one of: ${JOB_TYPES.join(', ')}`);
  }
}

async function waitForJob(api: ApiClient, jobId: string, timeoutMs: number, io: CliIo): Promise<Job> {
  const deadline = io.now() + timeoutMs;
  const sleep = io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (;;) {
    const { data } = await api.call<Job>('getJob', { params: { jobId } });
    if ((TERMINAL_JOB_STATUSES as readonly JobStatus[]).includes(data.status)) return data;
    if (io.now() >= deadline)
      throw new CliError(
        `job ${jobId} is still ${data.status} after ${Math.round(timeoutMs / 1000)} s`,
        EXIT.apiError,
        'wait_timeout',
      );
    await sleep(1000);
  }
}

function splitTarget(target: string): { deviceId: string; service?: string } {
  const [deviceId, service, extra] = target.split('/');
  if (!deviceId || extra !== undefined || service === '')
    throw usageError(`'${target}' is not <device-id> or <device-id>/<service>`);
  return service ? { deviceId, service } : { deviceId };
}

function isTargetDocument(v: unknown): v is { version: string; target: unknown } {
  return (
    !!v &&
    typeof v === 'object' &&
    typeof (v as { version?: unknown }).version === 'string' &&
    typeof (v as { target?: unknown }).target === 'object'
  );
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw usageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw usageError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

function readSecretFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw usageError(`cannot read ${file === '-' ? 'stdin' : file}: ${(err as Error).message}`);
  }
  const value = text.replace(/\r?\n$/, '');
  if (!value) throw usageError(`${file === '-' ? 'stdin' : file} is empty`);
  return value;
}

function positiveInt(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CommanderInvalid(`${name} must be a positive whole number`);
  return n;
}
function wholeNumberIn(v: string, name: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new CommanderInvalid(`${name} must be a whole number from ${min} to ${max}`);
  return n;
}
function positiveNumber(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new CommanderInvalid(`${name} must be a positive number`);
  return n;
}
