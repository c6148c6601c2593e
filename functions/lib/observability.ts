/**
 * Powertools Logger, Metrics and Tracer: one instance each per process.
 * Service name and namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'fleetmedic' });
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'Fleetmedic',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'fleetmedic',
});
// Tracing is active only inside Lambda with X-Ray; elsewhere the tracer is a no-op.
export const tracer = new Tracer({ enabled: !!process.env.AWS_LAMBDA_FUNCTION_NAME && process.env.POWERTOOLS_TRACE_ENABLED !== 'false' });
