/**
 * A job attempt ended in failure (the device reported FAILED, or the sweeper found it past its in-progress
 * timeout): apply the job type's retry policy and answer with the job as it must be stored, plus the events
 * that record what happened.
 *
 * Attempt semantics (AWS IoT Jobs' retry model): the failed attempt's outcome is final and kept in the history;
 *   - RETRY: the same job id is re-armed as attempt n+1 in QUEUED, in the SAME conditional write that records the
 *     failure, so a crash can never leave a failed attempt whose retry was decided but not stored;
 *   - SKIP / MANUAL / ESCALATE: the job ends in the failure status (FAILED or TIMED_OUT), which is terminal.
 *
 * Pure: `now` and randomness are arguments; persistence is the caller's (a conditional write on `version`).
 */
import type { Job, JobAttempt, JobStatus } from '../contract/jobs.js';
import { MAX_HISTORY, isTerminal } from './job-lifecycle.js';
import {
  decideRecovery,
  policyFor,
  type FailureKind,
  type RecoveryDecision,
  type RetryPolicies,
  DEFAULT_RETRY_POLICIES,
} from './retry-policy.js';

export interface FailAttemptInput {
  kind: FailureKind;
  /** Who observed the failure: the device id, `sweeper`, `dispatcher`. */
  by: string;
  error?: string;
  now: number;
  policies?: RetryPolicies;
  random?: () => number;
}

export interface RecoveryEvent {
  type: 'command.failed' | 'job.timed_out' | 'job.escalated' | 'job.needs_operator';
  detail: Record<string, unknown>;
}

export type FailAttemptResult =
  | {
      ok: true;
      /** The job to store (conditionally on the version it was read at). */
      job: Job;
      decision: RecoveryDecision;
      /** The job's status is now terminal (no retry). */
      terminal: boolean;
      events: RecoveryEvent[];
    }
  | { ok: false; error: 'invalid_transition'; message: string; from: JobStatus };

/** Only a live attempt can fail: QUEUED (never started) or IN_PROGRESS. */
const CAN_FAIL: readonly JobStatus[] = ['QUEUED', 'IN_PROGRESS'];

export const RETRY_BY = 'retry-policy';

export function failAttempt(job: Job, input: FailAttemptInput): FailAttemptResult {
  if (!CAN_FAIL.includes(job.status)) {
    const why = isTerminal(job.status)
      ? `job is already ${job.status}; terminal states are final`
      : `${job.status} cannot fail`;
    return { ok: false, error: 'invalid_transition', message: why, from: job.status };
  }
  const at = new Date(input.now).toISOString();
  const policy = policyFor(job.type, input.policies ?? DEFAULT_RETRY_POLICIES);
  const decision = decideRecovery(policy, {
    kind: input.kind,
    attempt: job.attempt,
    now: input.now,
    ...(input.random ? { random: input.random } : {}),
  });

  const failed: JobAttempt = { attempt: job.attempt, status: input.kind, at, by: input.by };
  if (input.error !== undefined) failed.error = input.error.slice(0, 2048);
  const history = [...job.history, failed];

  const base = {
    jobId: job.jobId,
    type: job.type,
    attempt: job.attempt,
    ...(input.error !== undefined ? { error: input.error.slice(0, 512) } : {}),
    recovery: decision.strategy,
  };
  const what: RecoveryEvent = {
    type: input.kind === 'TIMED_OUT' ? 'job.timed_out' : 'command.failed',
    detail: { ...base },
  };
  const events: RecoveryEvent[] = [what];

  if (decision.strategy === 'RETRY') {
    history.push({ attempt: decision.nextAttempt, status: 'QUEUED', at, by: RETRY_BY });
    Object.assign(what.detail, { nextAttempt: decision.nextAttempt, delaySeconds: decision.delaySeconds });
    const next: Job = {
      ...job,
      status: 'QUEUED',
      attempt: decision.nextAttempt,
      version: job.version + 1,
      updatedAt: at,
      history: bounded(history),
      statusDetails: {
        ...(job.statusDetails ?? {}),
        retryOf: job.attempt,
        retryNotBefore: new Date(decision.notBeforeEpochMs).toISOString(),
      },
    };
    return { ok: true, job: next, decision, terminal: false, events };
  }

  if (decision.strategy === 'ESCALATE')
    events.push({ type: 'job.escalated', detail: { ...base, reason: decision.reason } });
  if (decision.strategy === 'MANUAL')
    events.push({ type: 'job.needs_operator', detail: { ...base, reason: decision.reason } });
  const next: Job = {
    ...job,
    status: input.kind,
    version: job.version + 1,
    updatedAt: at,
    history: bounded(history),
    statusDetails: { ...(job.statusDetails ?? {}), recovery: decision.strategy, recoveryReason: decision.reason },
  };
  return { ok: true, job: next, decision, terminal: true, events };
}

function bounded(history: JobAttempt[]): JobAttempt[] {
  if (history.length <= MAX_HISTORY) return history;
  return [history[0]!, ...history.slice(history.length - (MAX_HISTORY - 1))];
}
