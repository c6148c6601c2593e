/**
 * Builds a Lambda handler for one API function (device-api, operator-api): the Powertools middlewares
 * (logger context, tracing, EMF metrics), then ours in order —
 *   correlation → request metrics → error handler → router → body limit → auth → JSON body → validation
 * — and finally dispatch to the route module for the resolved operationId.
 * (middy runs `onError` hooks in reverse order: the error handler's runs first, then request metrics and
 * correlation decorate the response it built, then Powertools flushes metrics and resets the logger.)
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { routes, type OperationId, type RouteFunction } from '../contract/routes.js';
import { forFunction, logger, metrics, tracer } from '../lib/observability.js';
import { auth, type Authenticators } from './auth.js';
import { bodyLimit } from './body-limit.js';
import { correlation } from './correlation.js';
import { errorHandler, jsonResponse } from './error-handler.js';
import { jsonBody } from './json-body.js';
import type { ApiMiddleware } from './middleware.js';
import { router } from './router.js';
import type { ApiContext, ApiEvent, ApiResult, RouteModule, RouteRequest, RouteResponse } from './types.js';
import { validate } from './validate.js';
import { header } from './middleware.js';

/** One access-log line and a request counter per call (dimensions: operation and status class only). */
function requestMetrics(): ApiMiddleware {
  const started = new WeakMap<object, number>();
  const done: ApiMiddleware['after'] = (request) => {
    const status = request.response?.statusCode ?? 500;
    const operation = request.context.api?.route?.operationId ?? 'unmatched';
    const ms = Date.now() - (started.get(request.context) ?? Date.now());
    logger.info('request', {
      method: request.event.requestContext?.http?.method,
      routeKey: request.event.routeKey,
      operation,
      status,
      ms,
    });
    // On the shared instance (flushed by logMetrics right after): every invocation publishes at least this.
    metrics.addDimensions({ operation, status: `${Math.floor(status / 100)}xx` });
    metrics.addMetric('api_requests_total', MetricUnit.Count, 1);
    metrics.addMetric('api_latency', MetricUnit.Milliseconds, ms);
  };
  return {
    name: 'request-metrics',
    before: (request) => void started.set(request.context, Date.now()),
    after: done,
    onError: done,
  };
}

function toResult(res: RouteResponse): ApiResult {
  if (res.body === undefined || res.statusCode === 204 || res.statusCode === 304) {
    return { statusCode: res.statusCode, headers: { ...(res.headers ?? {}) } };
  }
  return jsonResponse(res.statusCode, res.body, res.headers);
}

// biome-ignore lint/suspicious/noExplicitAny: every route module has its own request type; the router checks each against its schema.
type AnyRouteModule = RouteModule<any>;

export function createApiHandler(
  fn: RouteFunction,
  modules: readonly AnyRouteModule[],
  authenticators: Authenticators,
) {
  const byOperation = new Map<OperationId, AnyRouteModule>(modules.map((m) => [m.operationId, m]));
  // Fail at init, not on the first request, if the route table names a route this function cannot serve.
  const missing = routes.filter((r) => r.fn === fn && !byOperation.has(r.operationId)).map((r) => r.operationId);
  if (missing.length) throw new Error(`${fn}: no route module for ${missing.join(', ')}`);

  const dispatch = async (event: ApiEvent, context: ApiContext): Promise<ApiResult> => {
    const api = context.api;
    const module = byOperation.get(api.route!.operationId as OperationId);
    if (!module) throw new Error(`no route module for ${api.route!.operationId} in ${fn}`);
    const req: RouteRequest = {
      operationId: api.route!.operationId as OperationId,
      event,
      params: api.params as never,
      query: api.query as never,
      body: api.body as never,
      principal: api.principal,
      correlationId: api.correlationId,
      now: Date.now(),
      header: (name) => header(event, name),
    };
    return toResult(await module.handle(req));
  };

  return forFunction(
    fn,
    middy<ApiEvent, ApiResult, Error, ApiContext>(dispatch)
      .use(injectLambdaContext(logger, { resetKeys: true }))
      .use(captureLambdaHandler(tracer, { captureResponse: false }))
      .use(logMetrics(metrics, { captureColdStartMetric: true }))
      .use(correlation())
      .use(requestMetrics())
      .use(errorHandler())
      .use(router(fn))
      .use(bodyLimit())
      .use(auth(authenticators))
      .use(jsonBody())
      .use(validate()),
  );
}
