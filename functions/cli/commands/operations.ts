/**
 * The operator actions the runbook names for an incident (docs/runbook.md): reset every open circuit at once,
 * retry a stuck job now, move a stuck job to the dead-letter queue. Each leaves an audit event server-side.
 */
import type { Command } from 'commander';
import type * as z from 'zod/mini';
import type { Job } from '../../contract/jobs.js';
import type { ResetAllCircuitsResponse } from '../../contract/operator.js';
import type { ApiClient } from '../api-client.js';
import { usageError } from '../errors.js';
import { paint, table, type Style } from '../format.js';
import * as views from '../views.js';

/** What a command needs from the program (program.ts builds it per invocation). */
export interface CommandContext {
  client: () => ApiClient;
  emit: (data: unknown, human: () => string) => void;
  now: number;
  style: Style;
}

export interface OperationsDeps {
  ctx: (cmd: Command) => CommandContext;
}

type ResetAll = z.output<typeof ResetAllCircuitsResponse>;

export function circuitsView(r: ResetAll, style: Style): string {
  if (r.found.length === 0) return 'No open circuits.';
  const rows = r.found.map((f) => [
    f.deviceId,
    f.state,
    String(f.consecutiveFailures),
    r.dryRun ? 'would reset' : r.reset.includes(f.deviceId) ? 'reset' : 'left',
  ]);
  const foot = r.dryRun
    ? `${r.found.length} circuit(s) not closed; nothing was reset.`
    : `${r.reset.length} circuit(s) reset (an audit event each; correlation ${r.correlationId}).`;
  return `${table(['DEVICE', 'STATE', 'FAILURES', 'ACTION'], rows, style)}\n${paint(foot, 'dim', style)}`;
}

export function registerOperationsCommands(program: Command, deps: OperationsDeps): void {
  const circuits = program.command('circuits').description('circuit breakers of the whole fleet');
  circuits
    .command('reset')
    .description('reset every circuit that is not closed (lists them and refuses without --yes)')
    .option('--all', 'every open or half-open circuit (required: a single one is `circuit reset <device-id>`)')
    .option('--yes', 'really reset them')
    .action(async (o: { all?: boolean; yes?: boolean }, cmd: Command) => {
      if (!o.all) throw usageError('circuits reset needs --all (one device: fleetmedic circuit reset <device-id>)');
      const { client, emit, style } = deps.ctx(cmd);
      const api = client();
      if (!o.yes) {
        const { data } = await api.call<ResetAll>('resetAllCircuits', { body: { dryRun: true } });
        emit(data, () => circuitsView(data, style));
        if (data.found.length > 0)
          throw usageError(`refusing to reset ${data.found.length} circuit(s) without --yes`, { found: data.found });
        return;
      }
      // The API resets within a time budget per call: repeat while it says more remain and it still makes progress.
      let total: ResetAll | undefined;
      for (let round = 0; round < 50; round++) {
        const { data } = await api.call<ResetAll>('resetAllCircuits', { body: { confirm: true } });
        total = total
          ? { ...data, found: [...total.found, ...data.found], reset: [...total.reset, ...data.reset] }
          : data;
        if (!data.more || data.reset.length === 0) break;
      }
      emit(total, () => circuitsView(total!, style));
    });

  const jobs = program.commands.find((c) => c.name() === 'jobs') ?? program.command('jobs');
  jobs
    .command('retry')
    .description('re-dispatch a QUEUED or stuck IN_PROGRESS job now, as a new attempt')
    .argument('<job-id>')
    .action(async (jobId: string, _o, cmd: Command) => {
      const { client, emit, now, style } = deps.ctx(cmd);
      const { data } = await client().call<Job>('retryJob', { params: { jobId } });
      emit(data, () => views.jobView(data, now, style));
    });
  jobs
    .command('dead-letter')
    .description('move a QUEUED or stuck IN_PROGRESS job to the jobs DLQ (see `dlq list`, redrive it later)')
    .argument('<job-id>')
    .requiredOption('--reason <text>', 'why (shown in the DLQ listing and the job)')
    .action(async (jobId: string, o: { reason: string }, cmd: Command) => {
      const { client, emit, now, style } = deps.ctx(cmd);
      const { data } = await client().call<Job>('deadLetterJob', { params: { jobId }, body: { reason: o.reason } });
      emit(data, () => views.jobView(data, now, style));
    });
}
