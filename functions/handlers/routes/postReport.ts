/**
 * A device's heartbeat + state. Idempotent by sequence number:
 *  - the stored sequence again → 200 `duplicate`; an older one → 409 stale_sequence (details.lastSeq); no write;
 *  - nothing changed → no write, unless the stored liveness is older than LIVENESS_REFRESH_SECONDS;
 *  - changed → the merged state is written conditionally on the sequence it was merged from (a concurrent
 *    report makes us re-read and merge again).
 * The ack's `lastSeq` is the last STORED sequence (an unchanged heartbeat is acknowledged but not stored).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { getDeviceState, putDeviceState, refreshLiveness } from '../../adapters/devices-repo.js';
import { decideReport, type StoredDeviceState } from '../../domain/report-merge.js';
import { config } from '../../lib/config.js';
import { logger, metrics } from '../../lib/observability.js';
import { evaluateDevice } from '../health-evaluator.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';

const MAX_RACES = 5;

function count(outcome: string): void {
  const m = metrics.singleMetric();
  m.addDimension('outcome', outcome);
  m.addMetric('reports_total', MetricUnit.Count, 1);
}

export default defineRoute('postReport', async (req) => {
  const { deviceId } = req.params;
  const report = req.body;
  if (report.deviceId !== deviceId) throw httpError('forbidden', 'The report names another device than the path', { path: deviceId, body: report.deviceId });
  const policy = { livenessRefreshMs: config.livenessRefreshSeconds * 1000 };
  const ack = (status: 'applied' | 'duplicate', lastSeq: number) => ({
    statusCode: 200,
    body: { status, seq: report.seq, lastSeq, serverTime: new Date(req.now).toISOString() },
  });

  for (let race = 0; race < MAX_RACES; race++) {
    const current = await getDeviceState(deviceId);
    const decision = decideReport(current, report, req.now, policy);
    switch (decision.kind) {
      case 'duplicate':
        count('duplicate');
        return ack('duplicate', decision.lastSeq);
      case 'stale':
        count('stale');
        throw httpError('stale_sequence', `Sequence ${report.seq} is older than the stored ${decision.lastSeq}`, { seq: report.seq, lastSeq: decision.lastSeq });
      case 'unchanged':
        count('unchanged');
        return ack('applied', decision.lastSeq);
      case 'refresh':
        if (await refreshLiveness(deviceId, decision.next, current!.lastSeq)) {
          count('liveness_refresh');
          await evaluate(deviceId, decision.next, current, req);
          return ack('applied', decision.next.lastSeq);
        }
        break;
      case 'changed':
        if (await putDeviceState(deviceId, decision.next, current?.lastSeq)) {
          count('applied');
          await evaluate(deviceId, decision.next, decision.previous, req);
          return ack('applied', decision.next.lastSeq);
        }
        break;
    }
  }
  throw httpError('stale_sequence', 'Concurrent reports kept superseding this one; send the next sequence', { seq: report.seq });
});

// ---- health evaluation of each stored report (issue 5, helper E) ----

/**
 * Findings → recovery jobs / alerts, cleared findings → resolved alerts (functions/handlers/health-evaluator.ts).
 * Runs after the state is stored (a changed state, or a periodic liveness refresh so time-based findings age).
 * A failure here must not fail the report: the state is stored and the agent must not resend it; the next
 * change is evaluated again.
 */
async function evaluate(
  deviceId: string,
  next: StoredDeviceState,
  previous: StoredDeviceState | undefined,
  req: { now: number; correlationId: string },
): Promise<void> {
  try {
    await evaluateDevice(deviceId, next, { previous, now: req.now, correlationId: req.correlationId });
  } catch (err) {
    logger.error('health evaluation of a stored report failed', { deviceId, correlationId: req.correlationId, error: (err as Error).message });
  }
}
