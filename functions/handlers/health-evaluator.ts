/**
 * health-evaluator (schedule, every minute): offline detection for the whole fleet (services/offline-detection.ts).
 * The per-device half of health evaluation runs in-process on each stored report (services/device-health.ts).
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { config } from '../lib/config.js';
import { countRunCompleted, forFunction, logger, metrics } from '../lib/observability.js';
import { evaluateFleet } from '../services/offline-detection.js';

// A liveness configuration that contradicts itself fails the cold start, naming its keys (domain/liveness.ts).
void config.liveness;

export const handler = forFunction(
  'health-evaluator',
  middy(async () => {
    await evaluateFleet();
    countRunCompleted();
  })
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics)),
);
