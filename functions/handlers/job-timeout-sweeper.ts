/**
 * job-timeout-sweeper (schedule, every minute): IN_PROGRESS jobs past their in-progress timeout become TIMED_OUT
 * (a conditional write: a device update landing at the same moment wins or loses cleanly, never both) and their
 * type's retry policy applies: RETRY re-arms attempt n+1, ESCALATE raises a JobEscalated alert, MANUAL/SKIP end it.
 * A timeout counts as a failure on the device's circuit breaker.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { recordJobFailure } from '../services/job-failures.js';
import { listAllOverdue } from '../adapters/job-timeouts.js';
import { UnreadableItemError } from '../adapters/common/item-reader.js';
import { getJob, toJob } from '../adapters/jobs-repo.js';
import type { RetryPolicies } from '../domain/retry-policy.js';
import { countRunCompleted, forFunction, logger, metrics } from '../lib/observability.js';

export interface SweepOptions {
  now?: number;
  /** Most jobs looked at per shard per run (the next run takes the rest). */
  limitPerShard?: number;
  policies?: RetryPolicies;
  random?: () => number;
}

export interface SweepResult {
  overdue: number;
  timedOut: number;
  retried: number;
  ended: number;
  /** Moved by someone else between the index read and our write (finished, cancelled, another sweeper). */
  skipped: number;
}

export async function sweepTimeouts(o: SweepOptions = {}): Promise<SweepResult> {
  const now = o.now ?? Date.now();
  const candidates = await listAllOverdue(now, o.limitPerShard ?? 200);
  const result: SweepResult = { overdue: candidates.length, timedOut: 0, retried: 0, ended: 0, skipped: 0 };
  for (const c of candidates) {
    // The index lags the table: act only on what a consistent read still shows as overdue and in progress.
    // One stored in a shape that cannot be read is skipped (logged and counted by the read), not a failed run.
    const record = await getJob(c.jobId).catch((err: unknown) => {
      if (err instanceof UnreadableItemError) return undefined;
      throw err;
    });
    if (record?.status !== 'IN_PROGRESS' || record.timeoutAtEpoch === undefined || record.timeoutAtEpoch > now) {
      result.skipped++;
      continue;
    }
    const overdueSeconds = Math.round((now - record.timeoutAtEpoch) / 1000);
    const r = await recordJobFailure(toJob(record), {
      kind: 'TIMED_OUT',
      by: 'sweeper',
      error: `no terminal update before the in-progress deadline ${new Date(record.timeoutAtEpoch).toISOString()} (${overdueSeconds}s ago)`,
      now,
      ...(o.policies ? { policies: o.policies } : {}),
      ...(o.random ? { random: o.random } : {}),
    });
    if (r.outcome !== 'applied') {
      result.skipped++;
      continue;
    }
    result.timedOut++;
    if (r.decision.strategy === 'RETRY') result.retried++;
    else result.ended++;
  }
  metrics.addMetric('jobs_timed_out_total', MetricUnit.Count, result.timedOut);
  if (result.overdue) logger.info('timeout sweep', { ...result });
  return result;
}

export const handler = forFunction(
  'job-timeout-sweeper',
  middy(async () => {
    await sweepTimeouts();
    countRunCompleted();
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics)),
);
