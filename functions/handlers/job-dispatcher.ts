/**
 * job-dispatcher: the jobs queue consumer. What it does with each message (read the job, hold it behind an open
 * circuit, dispatch it once, dead-letter with a reason) is services/job-dispatch.ts.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { forFunction, logger, metrics } from '../lib/observability.js';
import { createDispatcher } from '../services/job-dispatch.js';

export const handler = forFunction(
  'job-dispatcher',
  middy(createDispatcher())
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics)),
);
