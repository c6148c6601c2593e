/**
 * Job metrics (EMF through Powertools), named as in docs/runbook.md so its alerts carry over:
 *   jobs_enqueued_total     a job was written (and put in the outbox)
 *   jobs_processed_total    an attempt reached an outcome (SUCCEEDED, FAILED, TIMED_OUT, REJECTED, CANCELED)
 *   jobs_fail               an attempt failed or timed out (retried or not)
 *   job_duration_seconds    from enqueue to the job's final outcome
 * HighJobFailureRate (> 10 % failed over 5 min) is the metric-math expression
 *   SUM(jobs_fail) / SUM(jobs_processed_total) over a 5-minute period, both without extra dimensions;
 * the per-outcome and per-type breakdowns are separate metrics so the alarm's series stay dimension-free.
 * Never a device id or job id as a dimension (cardinality); those go in log lines.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { JobStatus } from '../contract/jobs.js';
import { metrics } from '../lib/observability.js';

export function countEnqueued(type: string): void {
  metrics.addMetric('jobs_enqueued_total', MetricUnit.Count, 1);
  const byType = metrics.singleMetric();
  byType.addDimension('jobType', type);
  byType.addMetric('jobs_enqueued_by_type', MetricUnit.Count, 1);
}

export interface OutcomeInput {
  type: string;
  outcome: JobStatus;
  /** Did this attempt fail (FAILED or TIMED_OUT), whatever the policy then decided? */
  failed: boolean;
  /** The job is finished (no retry follows): its end-to-end duration is measured. */
  final: boolean;
  createdAt: string;
  now: number;
}

export function countOutcome(o: OutcomeInput): void {
  metrics.addMetric('jobs_processed_total', MetricUnit.Count, 1);
  if (o.failed) metrics.addMetric('jobs_fail', MetricUnit.Count, 1);
  const byOutcome = metrics.singleMetric();
  byOutcome.addDimensions({ jobType: o.type, outcome: o.outcome });
  byOutcome.addMetric('jobs_outcomes_total', MetricUnit.Count, 1);
  if (o.final) {
    const seconds = Math.max(0, (o.now - Date.parse(o.createdAt)) / 1000);
    metrics.addMetric('job_duration_seconds', MetricUnit.Seconds, seconds);
  }
}

/** Counters of the dispatcher's decisions (dimension-free, low volume). */
export type DispatchCounter =
  | 'jobs_dispatched_total'
  | 'jobs_applied_cloud_side_total'
  | 'jobs_held_total'
  | 'jobs_deferred_total'
  | 'jobs_duplicate_deliveries_total'
  | 'jobs_dispatch_failures_total'
  | 'jobs_dead_lettered_total'
  | 'jobs_retried_total'
  | 'jobs_escalated_total'
  | 'jobs_manual_total';

export function count(name: DispatchCounter, n = 1): void {
  if (n > 0) metrics.addMetric(name, MetricUnit.Count, n);
}
