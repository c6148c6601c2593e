/**
 * Record a failed or timed-out job attempt and carry out its retry policy (domain/job-recovery decides):
 *  1. one conditional single-item write stores the outcome and the decision (re-armed attempt n+1 back in the
 *     outbox, or terminal) in the job's history — this write alone decides who wins a race;
 *  2. then the events that report it (command.failed / job.timed_out, job.escalated, job.needs_operator), the
 *     device's circuit breaker count, the retry's publication (best effort: the outbox publisher sends it if
 *     this fails), the JobEscalated alert through the alerting adapter, metrics.
 *
 * Why not one TransactWriteItems for the job and its events? On DynamoDB that would be the better shape, but
 * moto_server (the emulator of tests and the local fleet) implements a cancelled transaction by restoring a
 * snapshot of every table it touched, undoing concurrent writes by others — exactly what happens when a sweeper
 * and a device update race. A single conditional write is the smallest thing that is atomic on DynamoDB (and on
 * moto with DynamoDB calls serialised: local/moto.ts). The job's own
 * history is the record of truth; the events are the fleet feed derived from it.
 *
 * A crash between 1 and 2 keeps the important part (the outcome and history; a retry stays in the outbox) and
 * loses at most that attempt's events, one failure count on the circuit or one alert notification.
 */
import type { Job } from '../contract/jobs.js';
import { failAttempt, type FailAttemptInput } from '../domain/job-recovery.js';
import type { RecoveryDecision } from '../domain/retry-policy.js';
import { logger } from '../lib/observability.js';
import { raiseAlert } from './alerts.js';
import { recordEvent } from '../adapters/events.js';
import { count, countOutcome } from '../adapters/job-metrics.js';
import { storeRearmedJob, transitionJob } from '../adapters/jobs-repo.js';
import { recordFailure } from './circuit-breaker.js';
import { countJobRecovery } from './recovery-stats.js';
import { publishJob } from './job-publishing.js';

export type RecordFailureResult =
  | { outcome: 'applied'; job: Job; decision: RecoveryDecision; published?: boolean }
  /** Someone moved the job first (the device finished, an operator cancelled, another sweeper won). */
  | { outcome: 'conflict' }
  | { outcome: 'invalid'; message: string };

export interface RecordFailureOptions extends Omit<FailAttemptInput, 'now'> {
  now?: number;
  /** Count the failure on the device's circuit breaker (default true: a failed job is a device failure). */
  countOnCircuit?: boolean;
  /** Publish a retry right away (default true); the outbox publisher covers it otherwise. */
  publishRetry?: boolean;
  /** Details reported with the failure (a device's statusDetails), merged into the stored job's. */
  statusDetails?: Record<string, unknown>;
}

export async function recordJobFailure(current: Job, o: RecordFailureOptions): Promise<RecordFailureResult> {
  const now = o.now ?? Date.now();
  const r = failAttempt(current, { ...o, now });
  if (!r.ok) return { outcome: 'invalid', message: r.message };
  const job = o.statusDetails
    ? { ...r.job, statusDetails: { ...(r.job.statusDetails ?? {}), ...o.statusDetails } }
    : r.job;
  const ctx = { correlationId: job.correlationId };
  const stored =
    r.decision.strategy === 'RETRY'
      ? await storeRearmedJob(current, job, {
          now,
          ...(r.decision.delaySeconds > 0 ? { notBeforeEpoch: r.decision.notBeforeEpochMs } : {}),
        })
      : await transitionJob(current, job, { now });
  if (!stored) return { outcome: 'conflict' };

  const log = {
    ...ctx,
    jobId: job.jobId,
    deviceId: job.deviceId,
    type: job.type,
    kind: o.kind,
    attempt: current.attempt,
    recovery: r.decision.strategy,
  };
  for (const e of r.events) {
    try {
      await recordEvent(
        { type: e.type, deviceId: job.deviceId, correlationId: job.correlationId, detail: e.detail },
        now,
      );
    } catch (err) {
      logger.error('could not record the job event (the job history has it)', { ...log, event: e.type, err });
    }
  }
  logger.warn(`job attempt ${o.kind === 'TIMED_OUT' ? 'timed out' : 'failed'}`, { ...log, error: o.error });
  // Recovery statistics: an attempt after the first was a RETRY, and it failed; a policy other than RETRY gives up
  // on automation for this job (domain/recovery-stats.ts).
  const counted = { now, correlationId: job.correlationId, jobId: job.jobId };
  if (current.attempt > 1) await countJobRecovery(job.deviceId, 'RETRY', 'failed', counted);
  if (r.decision.strategy !== 'RETRY') await countJobRecovery(job.deviceId, r.decision.strategy, 'failed', counted);
  countOutcome({ type: job.type, outcome: o.kind, failed: true, final: r.terminal, createdAt: job.createdAt, now });

  if (o.countOnCircuit !== false) {
    try {
      await recordFailure(job.deviceId, { ...ctx, source: job.jobId, now });
    } catch (err) {
      logger.error('could not count the job failure on the circuit breaker', { ...log, err });
    }
  }

  let published: boolean | undefined;
  switch (r.decision.strategy) {
    case 'RETRY':
      count('jobs_retried_total');
      if (o.publishRetry !== false) {
        try {
          await publishJob(job, { delaySeconds: r.decision.delaySeconds });
          published = true;
        } catch (err) {
          published = false;
          logger.warn('retry not published now; the outbox publisher will send it', { ...log, err });
        }
      }
      break;
    case 'ESCALATE':
      count('jobs_escalated_total');
      await escalate(job, o.kind, r.decision.reason, now);
      break;
    case 'MANUAL':
      count('jobs_manual_total');
      break;
    case 'SKIP':
      break;
  }
  return { outcome: 'applied', job, decision: r.decision, ...(published !== undefined ? { published } : {}) };
}

/** Raise the JobEscalated alert (alerting dedupes per device and decides who hears about it). */
async function escalate(job: Job, kind: string, reason: string, now: number): Promise<void> {
  const tried = job.history
    .filter((h) => h.status === 'FAILED' || h.status === 'TIMED_OUT')
    .map((h) => `attempt ${h.attempt}: ${h.status}${h.error ? ` (${h.error.slice(0, 120)})` : ''}`);
  try {
    await raiseAlert(
      {
        alertName: 'JobEscalated',
        // Level 2 (a person must act on this device), not 3: one device's command failing is not an engineering incident.
        level: 2,
        deviceId: job.deviceId,
        summary: `${job.type} ${kind === 'TIMED_OUT' ? 'timed out' : 'failed'} on ${job.deviceId} after ${job.attempt} attempt(s): ${reason}`,
        since: Date.parse(job.createdAt),
        tried,
        correlationId: job.correlationId,
        details: { jobId: job.jobId, jobType: job.type, attempts: job.attempt },
      },
      { now },
    );
  } catch (err) {
    // The job.escalated event is already stored with the job's outcome; only the notification is missing.
    logger.error('could not raise the JobEscalated alert (job.escalated event is recorded)', {
      jobId: job.jobId,
      deviceId: job.deviceId,
      correlationId: job.correlationId,
      err,
    });
  }
}
