/**
 * What one sync cost, published with it (docs/architecture.md "Per-request cost"): one Lambda invocation (the
 * sync itself: no other function runs for an idle sync), the DynamoDB calls and read/write units it consumed as
 * DynamoDB reported them (lib/request-cost.ts), and the bytes in and out. As metrics in the invocation's own EMF
 * document (no extra log line, so publishing the cost adds almost none) and as `syncCost` on its request log line.
 * The device-token check shows up here as a read only when the credentials cache missed.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logger, metrics } from '../lib/observability.js';
import type { DynamoCost } from '../lib/request-cost.js';

export interface SyncCost {
  dynamo: DynamoCost;
  requestBytes: number;
  responseBytes: number;
}

export function publishSyncCost(c: SyncCost): void {
  metrics.addMetric('sync_dynamodb_calls', MetricUnit.Count, c.dynamo.calls);
  metrics.addMetric('sync_dynamodb_read_units', MetricUnit.Count, c.dynamo.readUnits);
  metrics.addMetric('sync_dynamodb_write_units', MetricUnit.Count, c.dynamo.writeUnits);
  metrics.addMetric('sync_request_bytes', MetricUnit.Bytes, c.requestBytes);
  metrics.addMetric('sync_response_bytes', MetricUnit.Bytes, c.responseBytes);
  // Cleared at the next invocation (injectLambdaContext resetKeys), so it stays on this request's lines.
  logger.appendKeys({
    syncCost: {
      lambdaInvocations: 1,
      dynamoCalls: c.dynamo.calls,
      readUnits: c.dynamo.readUnits,
      writeUnits: c.dynamo.writeUnits,
      requestBytes: c.requestBytes,
      responseBytes: c.responseBytes,
    },
  });
}
