/**
 * rollout-controller (schedule, every minute): advances every rollout with work left — judges the devices in
 * progress, aborts on a met criterion (and rolls moved devices back), starts the next stage, completes
 * (services/rollouts.ts). Its work list is the rollouts table's `ACTIVE` partition: one Query, no scan.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { advanceActiveRollouts } from '../services/rollouts.js';
import { countRunCompleted, forFunction, logger, metrics } from '../lib/observability.js';

export const handler = forFunction(
  'rollout-controller',
  middy(async () => {
    const outcomes = await advanceActiveRollouts();
    const advanced = Object.values(outcomes).filter((o) => o.kind !== 'busy' && o.kind !== 'idle').length;
    metrics.addMetric('rollouts_advanced', MetricUnit.Count, advanced);
    if (advanced) logger.info('rollouts advanced', { outcomes });
    countRunCompleted();
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics)),
);
