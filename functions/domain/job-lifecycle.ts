/**
 * Job execution lifecycle, following AWS IoT Jobs:
 *   QUEUED → IN_PROGRESS | SUCCEEDED | FAILED | REJECTED | CANCELED | TIMED_OUT
 *   IN_PROGRESS → IN_PROGRESS (progress details) | SUCCEEDED | FAILED | CANCELED | TIMED_OUT
 *   SUCCEEDED, FAILED, TIMED_OUT, REJECTED, CANCELED are final.
 * Every accepted transition increments `version` and appends to `history`. Pure: `now` is an argument.
 */
import type { Job, JobAttempt, JobStatus } from '../contract/jobs.js';
import { TERMINAL_JOB_STATUSES } from '../contract/jobs.js';

const ALLOWED: Record<JobStatus, readonly JobStatus[]> = {
  QUEUED: ['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'REJECTED', 'CANCELED', 'TIMED_OUT'],
  IN_PROGRESS: ['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'CANCELED', 'TIMED_OUT'],
  SUCCEEDED: [],
  FAILED: [],
  TIMED_OUT: [],
  REJECTED: [],
  CANCELED: [],
};

/** Bounded history: the first entry (creation) plus the most recent ones. Progress updates can be many. */
export const MAX_HISTORY = 50;

export const isTerminal = (s: JobStatus) => TERMINAL_JOB_STATUSES.includes(s);
export const canTransition = (from: JobStatus, to: JobStatus) => ALLOWED[from].includes(to);

export interface TransitionInput {
  to: JobStatus;
  /** Who moves it: the device id, `operator:<id>`, `dispatcher`, `sweeper`. */
  by: string;
  now: number;
  error?: string;
  statusDetails?: Record<string, unknown>;
  /** A new delivery attempt (the dispatcher retrying); defaults to the current attempt. */
  nextAttempt?: boolean;
}

export type TransitionResult =
  | { ok: true; job: Job }
  | { ok: false; error: 'invalid_transition'; message: string; from: JobStatus; to: JobStatus };

export function transition(job: Job, input: TransitionInput): TransitionResult {
  if (!canTransition(job.status, input.to)) {
    const why = isTerminal(job.status)
      ? `job is already ${job.status}; terminal states are final`
      : `${job.status} cannot move to ${input.to}`;
    return { ok: false, error: 'invalid_transition', message: why, from: job.status, to: input.to };
  }
  const at = new Date(input.now).toISOString();
  const attempt = input.nextAttempt ? job.attempt + 1 : job.attempt;
  const entry: JobAttempt = { attempt, status: input.to, at, by: input.by };
  if (input.error !== undefined) entry.error = input.error.slice(0, 2048);
  const next: Job = {
    ...job,
    status: input.to,
    version: job.version + 1,
    attempt,
    updatedAt: at,
    history: boundedHistory([...job.history, entry]),
  };
  if (input.statusDetails !== undefined) next.statusDetails = input.statusDetails;
  return { ok: true, job: next };
}

function boundedHistory(history: JobAttempt[]): JobAttempt[] {
  if (history.length <= MAX_HISTORY) return history;
  return [history[0]!, ...history.slice(history.length - (MAX_HISTORY - 1))];
}

/** A freshly enqueued job: QUEUED, version 1, one history entry. */
export function newJob(input: {
  jobId: string;
  deviceId: string;
  type: string;
  params: Record<string, unknown>;
  correlationId: string;
  by: string;
  now: number;
  /** Chosen by the operator (contract bounds); absent: the type's default applies. */
  inProgressTimeoutSeconds?: number;
}): Job {
  const at = new Date(input.now).toISOString();
  return {
    jobId: input.jobId,
    deviceId: input.deviceId,
    type: input.type,
    params: input.params,
    status: 'QUEUED',
    version: 1,
    attempt: 1,
    createdAt: at,
    updatedAt: at,
    correlationId: input.correlationId,
    ...(input.inProgressTimeoutSeconds !== undefined
      ? { inProgressTimeoutSeconds: input.inProgressTimeoutSeconds }
      : {}),
    history: [{ attempt: 1, status: 'QUEUED', at, by: input.by }],
  };
}

/**
 * How long a job may stay IN_PROGRESS by default, when the operator chose no timeout at enqueue. Pulls and
 * target changes wait on image downloads and a health window; a restart or a check is quick.
 */
export function defaultInProgressTimeoutSeconds(type: string): number {
  switch (type) {
    case 'pull-image':
    case 'set-target-state':
      return 900;
    default:
      return 300;
  }
}

/**
 * How long an attempt of this job may stay IN_PROGRESS before the sweeper times it out: the timeout chosen at
 * enqueue (`inProgressTimeoutSeconds`, kept by every retry), else the job type's default.
 */
export function inProgressTimeoutSeconds(job: Pick<Job, 'type' | 'inProgressTimeoutSeconds'>): number {
  const chosen = job.inProgressTimeoutSeconds;
  return chosen !== undefined && Number.isInteger(chosen) && chosen > 0
    ? chosen
    : defaultInProgressTimeoutSeconds(job.type);
}

/** The deadline (epoch ms) the sweeper looks for, for an attempt that went IN_PROGRESS at `now`. */
export function inProgressDeadline(job: Pick<Job, 'type' | 'inProgressTimeoutSeconds'>, now: number): number {
  return now + inProgressTimeoutSeconds(job) * 1000;
}

/**
 * Is an IN_PROGRESS update a device claiming again the attempt it already holds? An agent whose claim timed out on
 * its side while the cloud applied it sees the job again at its next poll and claims it again: answering with the
 * job as it is (no new version, no history entry) keeps one IN_PROGRESS per attempt. A progress update carries
 * statusDetails and still moves the job.
 */
export function isRepeatedClaim(
  job: Job,
  update: { status: JobStatus; statusDetails?: Record<string, unknown> },
  by: string,
): boolean {
  if (update.status !== 'IN_PROGRESS' || job.status !== 'IN_PROGRESS' || update.statusDetails !== undefined)
    return false;
  const last = job.history.at(-1);
  return last?.status === 'IN_PROGRESS' && last.by === by && last.attempt === job.attempt;
}

/**
 * Is an update a replay of the transition that produced the job's current version? A device whose
 * response got lost retries the same update; answering 200 (not 409) keeps it from looping. The entry it
 * created is the last one, or the one before it when a retry policy re-armed the job in the same write.
 */
export function isReplayOf(job: Job, update: { status: JobStatus; expectedVersion: number }, by: string): boolean {
  if (job.version !== update.expectedVersion + 1) return false;
  return job.history.slice(-2).some((h) => h.status === update.status && h.by === by);
}

/**
 * An operator re-arms a job that is not finished (QUEUED, or IN_PROGRESS on a device that went quiet): QUEUED
 * again as attempt n+1, so the dispatcher, idempotent per job id + attempt, delivers it afresh and a late update
 * for the old attempt is refused by its version. Used for "retry now" and for "move it to the dead-letter
 * queue" (the re-armed attempt's message is then sent to the DLQ instead of the queue, to be redriven). Not a
 * failure of the device: no retry policy or circuit count applies. A finished job cannot be re-armed.
 */
export function rearmByOperator(
  job: Job,
  input: { by: string; now: number; statusDetails: Record<string, unknown> },
): TransitionResult {
  if (job.status !== 'QUEUED' && job.status !== 'IN_PROGRESS') {
    return {
      ok: false,
      error: 'invalid_transition',
      message: `job is already ${job.status}; only a QUEUED or IN_PROGRESS job can be re-dispatched or dead-lettered`,
      from: job.status,
      to: 'QUEUED',
    };
  }
  const at = new Date(input.now).toISOString();
  const attempt = job.attempt + 1;
  return {
    ok: true,
    job: {
      ...job,
      status: 'QUEUED',
      version: job.version + 1,
      attempt,
      updatedAt: at,
      statusDetails: input.statusDetails,
      history: boundedHistory([...job.history, { attempt, status: 'QUEUED', at, by: input.by }]),
    },
  };
}
