/**
 * slack-forwarder: the alerts-delivery queue's consumer; each alert becomes one Slack message, exactly once
 * (services/slack-delivery.ts). Traced, with the response left out: the webhook URL must never reach a trace.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { forFunction, logger, metrics, tracer } from '../lib/observability.js';
import { forwardAlerts } from '../services/slack-delivery.js';

export const handler = forFunction(
  'slack-forwarder',
  middy(forwardAlerts)
    .use(captureLambdaHandler(tracer, { captureResponse: false }))
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics)),
);
