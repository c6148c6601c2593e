/**
 * Powertools Logger, Metrics and Tracer: one instance each per process.
 * Service name and namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { sourceMapStack } from './source-mapped-stack.js';

export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'fleetmedic',
  // A logged error's stack names the .ts sources (the bundles run without --enable-source-maps: source-mapped-stack.ts).
  jsonReplacerFn: (_key, value) => sourceMapStack(value),
});
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'Fleetmedic',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'fleetmedic',
});
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
export async function traceHttpCall<T extends { status: number }>(url: URL, method: string, send: () => Promise<T>): Promise<T> {
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
