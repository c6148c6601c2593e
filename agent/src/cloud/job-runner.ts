/**
 * Executes the device's pending jobs, one at a time, oldest first, each at most once (job-journal.ts):
 *
 *   PUT IN_PROGRESS (expectedVersion = the job's version)   → the job is ours; a 409 means it moved on (canceled)
 *   journal: claimed (fsync)                               ← nothing has been done to the device before this
 *   execute the command through the agent's handlers
 *   journal: finished + outcome
 *   PUT SUCCEEDED / FAILED (expectedVersion = the version IN_PROGRESS returned)
 *   journal: reported
 *
 * A crash before `claimed` leaves an IN_PROGRESS job without a journal entry: it was not executed, so the next
 * poll executes it (IN_PROGRESS → IN_PROGRESS is allowed). A crash after `claimed` and before `finished`
 * reports FAILED 'agent restarted mid-job' (see job-journal.ts for why). A crash after `finished` re-sends the
 * recorded outcome. A command that does not parse is REJECTED without touching anything.
 */
import { JobCommand, type Job, type JobCommand as JobCommandT } from '#contract/jobs.js';
import { runInJobContext } from '../job-context.js';
import type { CloudApi } from './api-client.js';
import { MID_JOB_RESTART, type JobJournal, type JobOutcome } from './job-journal.js';

// biome-ignore lint/suspicious/noConfusingVoidType: a handler with nothing to report may simply not return.
export type JobResult = Record<string, string | number | boolean> | void;
/** A handler may answer synchronously; the runner awaits it inside its error handling either way. */
export type JobHandler<T extends JobCommandT['type']> = (
  params: Extract<JobCommandT, { type: T }>['params'],
  job: Job,
) => JobResult | Promise<JobResult>;
export type JobHandlers = { [T in JobCommandT['type']]: JobHandler<T> };

/** pino-style (data first, then the message). */
export interface JobRunnerLog {
  info(data: Record<string, unknown>, msg: string): void;
  warn(data: Record<string, unknown>, msg: string): void;
}

export class JobRunner {
  /** Jobs executed by this process (tests and status). */
  executed = 0;

  constructor(
    private readonly api: CloudApi,
    private readonly journal: JobJournal,
    private readonly handlers: JobHandlers,
    private readonly log: JobRunnerLog,
  ) {}

  /** Processes a pending list. Transport failures propagate (the link goes offline and polls again later). */
  async process(jobs: readonly Job[]): Promise<void> {
    // Each job runs in its correlation id's context: its log lines and its requests to the API carry it.
    for (const job of jobs) await runInJobContext(job.correlationId, () => this.one(job));
  }

  private async one(job: Job): Promise<void> {
    if (job.status !== 'QUEUED' && job.status !== 'IN_PROGRESS') return; // a lagging list may show terminal jobs
    const entry = this.journal.get(job.jobId, job.attempt);
    if (entry?.state === 'reported') return; // the list lags behind our accepted final update
    if (entry?.state === 'claimed') {
      this.log.warn(
        { jobId: job.jobId, type: job.type },
        'job was interrupted by an agent restart; reporting it failed, not executing it again',
      );
      await this.journal.finish(job.jobId, job.attempt, MID_JOB_RESTART);
      await this.report(job, job.version, MID_JOB_RESTART);
      return;
    }
    if (entry?.state === 'finished') {
      await this.report(job, job.version, entry.outcome ?? MID_JOB_RESTART);
      return;
    }

    const command = JobCommand.safeParse({ type: job.type, params: job.params });
    if (!command.success) {
      const outcome: JobOutcome = {
        status: 'REJECTED',
        details: { reason: 'invalid command', message: command.error.message.slice(0, 500) },
      };
      await this.journal.claim(job.jobId, job.attempt, job.type);
      await this.journal.finish(job.jobId, job.attempt, outcome);
      await this.report(job, job.version, outcome);
      return;
    }

    const started = await this.api.updateJob(job.jobId, { status: 'IN_PROGRESS', expectedVersion: job.version });
    if (started.kind !== 'ok') {
      // Canceled, timed out or changed meanwhile: not ours to run. The next poll shows the truth.
      this.log.info({ jobId: job.jobId, result: started.kind }, 'job not started: the API refused IN_PROGRESS');
      return;
    }

    await this.journal.claim(job.jobId, job.attempt, job.type); // write-ahead: before any side effect
    let outcome: JobOutcome;
    try {
      this.executed++;
      const details = await this.execute(command.data, started.job);
      outcome = { status: 'SUCCEEDED', details: details ?? {} };
    } catch (err) {
      outcome = {
        status: 'FAILED',
        details: { reason: 'execution failed', message: String((err as Error)?.message ?? err).slice(0, 1000) },
      };
    }
    await this.journal.finish(job.jobId, job.attempt, outcome);
    this.log.info({ jobId: job.jobId, type: job.type, status: outcome.status }, 'job executed');
    await this.report(job, started.job.version, outcome);
  }

  private async execute(command: JobCommandT, job: Job): Promise<JobResult> {
    const handler = this.handlers[command.type] as JobHandler<typeof command.type>;
    return await handler(command.params as never, job);
  }

  private async report(job: Job, expectedVersion: number, outcome: JobOutcome): Promise<void> {
    let r = await this.api.updateJob(job.jobId, {
      status: outcome.status,
      expectedVersion,
      statusDetails: clip(outcome.details),
    });
    if (r.kind === 'rejected') {
      // The details did not pass the API's validation: the status matters more than the details.
      this.log.warn(
        { jobId: job.jobId, error: r.error, message: r.message },
        'job outcome details refused; sending the bare status',
      );
      r = await this.api.updateJob(job.jobId, { status: outcome.status, expectedVersion });
    }
    if (
      r.kind === 'rejected' ||
      r.kind === 'ok' ||
      r.kind === 'not-found' ||
      (r.kind === 'conflict' && r.error === 'invalid_transition')
    ) {
      // Accepted, or the job is already terminal/gone (canceled, timed out): nothing more to tell.
      await this.journal.reported(job.jobId, job.attempt);
      return;
    }
    // version_conflict: our view of the version is stale; the journal keeps the outcome and the next poll
    // (with the current version) reports it. Nothing is executed again.
    this.log.warn(
      { jobId: job.jobId, result: r.kind, error: 'error' in r ? r.error : undefined },
      'job outcome not accepted yet; will re-send with the current version',
    );
  }
}

function clip(details: Record<string, string | number | boolean>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(details).slice(0, 20))
    out[k.slice(0, 64)] = typeof v === 'string' ? v.slice(0, 1024) : v;
  return out;
}
