/**
 * health-evaluator (schedule, every minute): offline detection for the whole fleet (services/offline-detection.ts)
 * the fleet's 24 h recovery success rate (services/recovery-stats.ts, RecoverySuccessRateLow) and, once a day,
 * the daily summary (services/daily-summary.ts).
 * The per-device half of health evaluation runs in-process on each stored report (services/device-health.ts).
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { config } from '../lib/config.js';
import { countRunCompleted, forFunction, logger, metrics } from '../lib/observability.js';
import { evaluateFleet } from '../services/offline-detection.js';
import { evaluateRecoveryRate } from '../services/recovery-stats.js';
import { maybeSendDailySummary } from '../services/daily-summary.js';

// A liveness configuration that contradicts itself fails the cold start, naming its keys (domain/liveness.ts).
void config.liveness;

export const handler = forFunction(
  'health-evaluator',
  middy(async () => {
    await evaluateFleet();
    // Offline detection is the run's main duty: a failing rate check is logged, and does not make the run count as
    // not completed (RunnerDown) while devices are being watched.
    await evaluateRecoveryRate(Date.now()).catch((err: unknown) =>
      logger.error('recovery success rate evaluation failed', { error: (err as Error).message }),
    );
    // Once a day, after its configured local time (services/daily-summary.ts); a failure is retried next minute.
    await maybeSendDailySummary(Date.now()).catch((err: unknown) =>
      logger.error('daily summary failed', { error: (err as Error).message }),
    );
    countRunCompleted();
  })
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics)),
);
