/**
 * GET /v1/dlq — dead-lettered messages with their failure reason and attempt count, grouped by failure pattern.
 * Listing never deletes: messages are peeked with a short visibility and made visible again at once.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { listDeadLetters } from '../../adapters/dlq.js';
import { metrics } from '../../lib/observability.js';
import { defineRoute } from '../../http/types.js';

export const route = defineRoute('listDeadLetters', async (req) => {
  const listing = await listDeadLetters(req.query.queue, req.query.max);
  // Depth as a gauge whenever an operator looks (the outbox publisher also emits it every minute).
  const m = metrics.singleMetric();
  m.addDimension('queue', req.query.queue);
  m.addMetric('dlq_depth', MetricUnit.Count, listing.depth);
  return { statusCode: 200, body: listing };
});
export default route;
