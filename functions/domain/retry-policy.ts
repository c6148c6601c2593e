/**
 * What happens to a job when an attempt fails or times out, per job type and per failure kind.
 *
 * Four strategies: RETRY (exponential backoff, bounded attempts), SKIP (accept
 * the failure and move on), MANUAL (leave it for an operator), ESCALATE (raise an alert). ROLLBACK is not offered:
 * none of today's commands has a previous state the control plane could restore (set-target-state is applied
 * cloud-side and an operator can put the old target back explicitly).
 *
 * Attempts follow AWS IoT Jobs' retry model: each attempt's terminal outcome is final and kept in the history;
 * a RETRY re-arms the SAME job id as attempt n+1 (IoT increments the execution number the same way).
 *
 * Pure: no I/O, `now` and randomness are arguments.
 */
import type { JobType } from '../contract/jobs.js';

export type FailureKind = 'FAILED' | 'TIMED_OUT';
export type RecoveryStrategy = 'RETRY' | 'SKIP' | 'MANUAL' | 'ESCALATE';
export type FinalStrategy = Exclude<RecoveryStrategy, 'RETRY'>;

export type FailurePolicy =
  | {
      strategy: 'RETRY';
      /** Total attempts including the first one. */
      maxAttempts: number;
      baseDelaySeconds: number;
      maxDelaySeconds: number;
      /** What to do once maxAttempts attempts have failed. */
      whenExhausted: FinalStrategy;
    }
  | { strategy: FinalStrategy };

/**
 * How long a job may stay IN_PROGRESS is not here: it is part of the job lifecycle
 * (job-lifecycle.ts `inProgressTimeoutSeconds`), which stamps the deadline the sweeper looks for.
 */
export interface JobTypePolicy {
  onFailure: Record<FailureKind, FailurePolicy>;
}

export type RetryPolicies = Record<string, JobTypePolicy>;

/**
 * SQS caps DelaySeconds at 900 s. A retry is published with its delay as DelaySeconds, so no retry delay may
 * exceed it (a longer wait would need a scheduler; 15 minutes is plenty for device commands).
 */
export const MAX_SQS_DELAY_SECONDS = 900;

/**
 * The defaults, chosen per command:
 * - restart-service / pull-image: transient device trouble (registry hiccup, engine busy) is common, so retry a few
 *   times with growing pauses; a command that keeps failing means the device needs a person: escalate.
 * - set-target-state: applied cloud-side by the dispatcher (writes the TARGET item), it never runs on the device;
 *   a failure can only be an operator-visible problem: MANUAL.
 * - run-health-check: the check's outcome is information, not an action; a failed run is skipped (the health
 *   evaluator judges the service), a run that never finishes is retried once.
 * - retry-now: resets backoff on the device; if it fails the agent's own backoff continues anyway: SKIP.
 */
export const DEFAULT_RETRY_POLICIES: Record<JobType, JobTypePolicy> = {
  'restart-service': {
    onFailure: {
      FAILED: {
        strategy: 'RETRY',
        maxAttempts: 3,
        baseDelaySeconds: 30,
        maxDelaySeconds: 300,
        whenExhausted: 'ESCALATE',
      },
      TIMED_OUT: {
        strategy: 'RETRY',
        maxAttempts: 3,
        baseDelaySeconds: 60,
        maxDelaySeconds: 600,
        whenExhausted: 'ESCALATE',
      },
    },
  },
  'pull-image': {
    onFailure: {
      FAILED: {
        strategy: 'RETRY',
        maxAttempts: 4,
        baseDelaySeconds: 60,
        maxDelaySeconds: MAX_SQS_DELAY_SECONDS,
        whenExhausted: 'ESCALATE',
      },
      TIMED_OUT: {
        strategy: 'RETRY',
        maxAttempts: 2,
        baseDelaySeconds: 120,
        maxDelaySeconds: MAX_SQS_DELAY_SECONDS,
        whenExhausted: 'ESCALATE',
      },
    },
  },
  'set-target-state': {
    onFailure: { FAILED: { strategy: 'MANUAL' }, TIMED_OUT: { strategy: 'MANUAL' } },
  },
  'run-health-check': {
    onFailure: {
      FAILED: { strategy: 'SKIP' },
      TIMED_OUT: {
        strategy: 'RETRY',
        maxAttempts: 2,
        baseDelaySeconds: 15,
        maxDelaySeconds: 60,
        whenExhausted: 'SKIP',
      },
    },
  },
  'retry-now': {
    onFailure: { FAILED: { strategy: 'SKIP' }, TIMED_OUT: { strategy: 'SKIP' } },
  },
};

/** Unknown job types (a record written by a newer version) get the most conservative treatment: a person looks. */
export const FALLBACK_POLICY: JobTypePolicy = {
  onFailure: { FAILED: { strategy: 'MANUAL' }, TIMED_OUT: { strategy: 'MANUAL' } },
};

export function policyFor(type: string, policies: RetryPolicies = DEFAULT_RETRY_POLICIES): JobTypePolicy {
  return Object.hasOwn(policies, type) ? policies[type]! : FALLBACK_POLICY;
}

export type RecoveryDecision =
  | { strategy: 'RETRY'; nextAttempt: number; delaySeconds: number; notBeforeEpochMs: number }
  | { strategy: FinalStrategy; reason: string };

export interface FailureInput {
  kind: FailureKind;
  /** The attempt that just failed (1-based). */
  attempt: number;
  now: number;
  /** Uniform in [0, 1); injected so tests are deterministic. */
  random?: () => number;
}

/** Decide what happens after `attempt` ended in `kind`. */
export function decideRecovery(policy: JobTypePolicy, input: FailureInput): RecoveryDecision {
  const p = policy.onFailure[input.kind];
  if (p.strategy !== 'RETRY') return { strategy: p.strategy, reason: `${input.kind} → ${p.strategy} (policy)` };
  if (input.attempt >= p.maxAttempts) {
    return {
      strategy: p.whenExhausted,
      reason: `${input.kind} on attempt ${input.attempt} of ${p.maxAttempts} → ${p.whenExhausted} (retries exhausted)`,
    };
  }
  const delaySeconds = backoffSeconds(
    input.attempt,
    p.baseDelaySeconds,
    Math.min(p.maxDelaySeconds, MAX_SQS_DELAY_SECONDS),
    input.random,
  );
  return {
    strategy: 'RETRY',
    nextAttempt: input.attempt + 1,
    delaySeconds,
    notBeforeEpochMs: input.now + delaySeconds * 1000,
  };
}

/**
 * Exponential backoff with "equal jitter": base·2^(n-1), capped, then a random point in its upper half.
 * Half the delay is guaranteed (so retries really back off), the other half spreads a fleet's retries apart.
 */
export function backoffSeconds(
  n: number,
  baseSeconds: number,
  maxSeconds: number,
  random: () => number = Math.random,
): number {
  if (baseSeconds <= 0 || maxSeconds <= 0) return 0;
  const exp = Math.min(maxSeconds, baseSeconds * 2 ** Math.max(0, Math.min(n - 1, 30)));
  const half = exp / 2;
  return Math.min(maxSeconds, Math.round(half + random() * half));
}

/** SQS allows a visibility timeout of at most 12 hours. */
export const MAX_VISIBILITY_SECONDS = 12 * 3600;

export interface VisibilityBackoff {
  baseSeconds: number;
  maxSeconds: number;
}
/** Defaults for the dispatcher: 2, 4, 8, 16 s... capped at 5 minutes. */
export const DEFAULT_VISIBILITY_BACKOFF: VisibilityBackoff = { baseSeconds: 2, maxSeconds: 300 };

/**
 * How long a message that failed on its `receiveCount`-th receive stays invisible before SQS offers it again.
 * Lambda's event source mapping would otherwise retry after the queue's full visibility timeout (180 s) every time.
 */
export function visibilityBackoffSeconds(
  receiveCount: number,
  b: VisibilityBackoff = DEFAULT_VISIBILITY_BACKOFF,
  random?: () => number,
): number {
  return Math.min(MAX_VISIBILITY_SECONDS, backoffSeconds(receiveCount, b.baseSeconds, b.maxSeconds, random));
}

/**
 * A held job (its device's circuit is open) is re-sent as a fresh message delayed until the circuit admits a probe.
 * Capped by SQS's DelaySeconds limit: a longer hold simply comes back and is held again.
 */
export function holdDelaySeconds(retryAtEpochMs: number | undefined, now: number, minSeconds = 1): number {
  if (retryAtEpochMs === undefined) return MAX_SQS_DELAY_SECONDS;
  const s = Math.ceil((retryAtEpochMs - now) / 1000);
  return Math.max(minSeconds, Math.min(MAX_SQS_DELAY_SECONDS, s));
}
