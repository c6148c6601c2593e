/**
 * Powertools Logger, Metrics and Tracer.
 *
 * Every Lambda handler runs inside `forFunction(<its name>, ...)`, and while it runs `logger` and `metrics`
 * are that function's own instances: service name = the function's name (what POWERTOOLS_SERVICE_NAME says
 * in the cloud, where each function is its own process). The local fleet runs every handler in one process,
 * so an environment variable cannot name the service there, and one shared instance would mix the handlers'
 * log context and metrics (one handler's flush publishing another's metrics, leaving the other with "No
 * application metrics to publish"). Code running outside any handler (CLI, tests, scripts) uses an instance
 * named by POWERTOOLS_SERVICE_NAME, or `fleetmedic`.
 * The namespace comes from POWERTOOLS_METRICS_NAMESPACE.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { sourceMapStack } from './source-mapped-stack.js';

interface Instruments {
  logger: Logger;
  metrics: Metrics;
}

/** One pair per function, created on its first invocation (like a warm Lambda's module state). */
const byFunction = new Map<string, Instruments>();
const running = new AsyncLocalStorage<Instruments>();

function instrumentsFor(serviceName: string): Instruments {
  let i = byFunction.get(serviceName);
  if (!i) {
    i = {
      logger: new Logger({
        serviceName,
        // A logged error's stack names the .ts sources (the bundles run without --enable-source-maps: source-mapped-stack.ts).
        jsonReplacerFn: (_key, value) => sourceMapStack(value),
      }),
      metrics: new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'Fleetmedic', serviceName }),
    };
    byFunction.set(serviceName, i);
  }
  return i;
}

const active = (): Instruments =>
  running.getStore() ?? instrumentsFor(process.env.POWERTOOLS_SERVICE_NAME ?? 'fleetmedic');

/** A stand-in that forwards every use to the running function's instance (methods bound to it). */
function forwarding<T extends object>(pick: (i: Instruments) => T, prototype: object): T {
  return new Proxy(Object.create(prototype) as T, {
    get: (_, prop) => {
      const target = pick(active());
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
    set: (_, prop, value) => Reflect.set(pick(active()), prop, value),
    has: (_, prop) => Reflect.has(pick(active()), prop),
  });
}

export const logger: Logger = forwarding((i) => i.logger, Logger.prototype);
export const metrics: Metrics = forwarding((i) => i.metrics, Metrics.prototype);

/**
 * The Lambda handler of function `name`: everything it runs (middlewares, services, adapters) logs and
 * counts as that function.
 */
export function forFunction<E, C, R>(
  name: string,
  handler: (event: E, context: C) => Promise<R>,
): (event: E, context: C) => Promise<R> {
  return (event, context) => running.run(instrumentsFor(name), () => handler(event, context));
}

/**
 * Heartbeat of a scheduled function: 1 per run that finished (dimension `service`: which function). A run
 * that fails or never starts leaves a gap, which is what an alarm on the schedule watches; and every run
 * publishes at least this, so an idle run is not an empty flush.
 */
export const RUN_COMPLETED_METRIC = 'scheduled_runs_completed';
export function countRunCompleted(): void {
  metrics.addMetric(RUN_COMPLETED_METRIC, MetricUnit.Count, 1);
}

// Tracing is active only inside Lambda with X-Ray; elsewhere the tracer is a no-op.
// No automatic capture of http/https/fetch: it records every request's full URL path, and a path can be a
// credential (a Slack incoming webhook's path is its token). AWS SDK clients are traced through
// captureAWSv3Client (operation and resource names only) and other remote calls through traceHttpCall.
export const tracer = new Tracer({
  enabled: !!process.env.AWS_LAMBDA_FUNCTION_NAME && process.env.POWERTOOLS_TRACE_ENABLED !== 'false',
  captureHTTPsRequests: false,
});

/**
 * One outgoing HTTP request as an X-Ray subsegment that records the host, method and status only: the URL's
 * path and query and the error's message never reach the trace, since either can carry a credential.
 */
export async function traceHttpCall<T extends { status: number }>(
  url: URL,
  method: string,
  send: () => Promise<T>,
): Promise<T> {
  const parent = tracer.isTracingEnabled() ? tracer.getSegment() : undefined;
  if (!parent) return send();
  const sub = parent.addNewSubsegment(url.hostname);
  sub.addAttribute('namespace', 'remote');
  const request = { url: url.origin, method };
  sub.addAttribute('http', { request });
  try {
    const res = await send();
    sub.addAttribute('http', { request, response: { status: res.status } });
    if (res.status === 429) sub.addThrottleFlag();
    if (res.status >= 400 && res.status < 500) sub.addErrorFlag();
    else if (res.status >= 500) sub.addFaultFlag();
    return res;
  } catch (err) {
    // The error's name says what kind of failure it was; its message may quote the URL.
    sub.addFaultFlag();
    sub.addAnnotation('error', (err as Error)?.name ?? 'Error');
    throw err;
  } finally {
    sub.close();
  }
}
