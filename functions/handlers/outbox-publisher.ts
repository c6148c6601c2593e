/**
 * outbox-publisher (schedule, every minute): the outbox sweep that guarantees every stored job reaches the jobs
 * queue (services/outbox-publishing.ts).
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { countRunCompleted, forFunction, logger, metrics } from '../lib/observability.js';
import { publishOutbox } from '../services/outbox-publishing.js';

export const handler = forFunction(
  'outbox-publisher',
  middy(async () => {
    const r = await publishOutbox({ gaugeDlq: true });
    if (r.unpublished) logger.info('outbox run', { ...r });
    countRunCompleted();
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics)),
);
