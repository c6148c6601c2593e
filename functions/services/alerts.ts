/**
 * Raising and resolving alerts, for every service that does: services/alert-raising.ts carries out dedupe,
 * grouping and publication; this adds the silences (domain/alerting/silences.ts), so every alert type honours them in the same
 * place. A silenced alert writes nothing: when the silence ends, the next raise notifies as if it were the first.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { currentSilences } from '../adapters/silences-repo.js';
import { dedupeKeyFor, type AlertInput } from '../domain/alerting/event.js';
import { silencing } from '../domain/alerting/silences.js';
import { logger, metrics } from '../lib/observability.js';
import { raiseAlert as raiseAlertRecord, resolveAlert, type AlertOptions, type RaiseResult } from './alert-raising.js';

export { resolveAlert, type RaiseResult };

export async function raiseAlert(input: AlertInput, opts: AlertOptions = {}): Promise<RaiseResult> {
  const now = opts.now ?? Date.now();
  const silence = silencing(await currentSilences(now), input, now);
  if (!silence) return raiseAlertRecord(input, opts);
  const dedupeKey = input.dedupeKey ?? dedupeKeyFor(input);
  metrics.addMetric('alerts_silenced', MetricUnit.Count, 1);
  logger.info('alert silenced', {
    dedupeKey,
    alertName: input.alertName,
    silenceId: silence.silenceId,
    correlationId: input.correlationId,
  });
  return { action: 'suppressed', dedupeKey, reason: 'silenced', suppressedCount: 0, silenceId: silence.silenceId };
}
