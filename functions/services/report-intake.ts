/**
 * Storing one device report: the shared path of POST /reports and POST /sync. Idempotent by sequence number:
 *  - the stored sequence again → `duplicate`; an older one → `stale` (details.lastSeq); no state write;
 *  - nothing changed → no state write;
 *  - changed → the merged state is written conditionally on the sequence it was merged from (a concurrent
 *    report makes us re-read and merge again), then its error changes are recorded (error-history.ts), the
 *    growth of the agent's recovery counters is counted (recovery-stats.ts), and it is evaluated (device-health.ts).
 * Every accepted report (applied, unchanged) is a sign of life: one write to the device's liveness item, concurrent
 * with the state write (adapters/liveness-repo.ts). A duplicate or stale one writes nothing at all: a replay is not
 * news, and a refused report must leave no trace.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { getDeviceState, putDeviceState } from '../adapters/devices-repo.js';
import { touchLiveness, type LivenessBefore } from '../adapters/liveness-repo.js';
import type { DeviceReport } from '../contract/report.js';
import { decideReport, type StoredDeviceState } from '../domain/report-merge.js';
import { logger, metrics } from '../lib/observability.js';
import { evaluateDevice } from './device-health.js';
import { recordErrorChanges } from './error-history.js';
import { countAgentRecoveries } from './recovery-stats.js';

const MAX_RACES = 5;

export type IntakeOutcome =
  | { status: 'applied' | 'duplicate'; lastSeq: number }
  | { status: 'stale'; lastSeq: number }
  /** Concurrent reports kept superseding this one. */
  | { status: 'superseded' }
  /** The device was decommissioned (its token may still be in a warm credentials cache): nothing is written. */
  | { status: 'retired' };

export interface Intake {
  outcome: IntakeOutcome;
  liveness: LivenessBefore;
}

function count(outcome: string): void {
  const m = metrics.singleMetric();
  m.addDimension('outcome', outcome);
  m.addMetric('reports_total', MetricUnit.Count, 1);
}

export async function storeReport(
  deviceId: string,
  report: DeviceReport,
  req: { now: number; correlationId: string },
): Promise<Intake> {
  let liveness: Promise<LivenessBefore> | undefined;
  const signOfLife = () => (liveness ??= touchLiveness(deviceId, req.now));
  for (let race = 0; race < MAX_RACES; race++) {
    const current = await getDeviceState(deviceId);
    if (current && 'decommissionedAt' in current) return { outcome: { status: 'retired' }, liveness: NOT_TOUCHED };
    const decision = decideReport(current, report, req.now);
    switch (decision.kind) {
      case 'duplicate':
        count('duplicate');
        return { outcome: { status: 'duplicate', lastSeq: decision.lastSeq }, liveness: NOT_TOUCHED };
      case 'stale':
        count('stale');
        return { outcome: { status: 'stale', lastSeq: decision.lastSeq }, liveness: NOT_TOUCHED };
      case 'unchanged':
        count('unchanged');
        return { outcome: { status: 'applied', lastSeq: decision.lastSeq }, liveness: await signOfLife() };
      case 'changed': {
        const [stored, before] = await Promise.all([
          putDeviceState(deviceId, decision.next, current?.lastSeq),
          signOfLife(),
        ]);
        if (stored) {
          count('applied');
          await recordHistory(deviceId, decision.next, decision.previous, req);
          await evaluate(deviceId, decision.next, decision.previous, req);
          return { outcome: { status: 'applied', lastSeq: decision.next.lastSeq }, liveness: before };
        }
        break;
      }
    }
  }
  return { outcome: { status: 'superseded' }, liveness: liveness ? await liveness : NOT_TOUCHED };
}

const NOT_TOUCHED: LivenessBefore = { wasOffline: false };

/**
 * The error history and the recovery counters of a stored change. Like the evaluation below, a failure here must
 * not fail a report whose state is stored.
 */
async function recordHistory(
  deviceId: string,
  next: StoredDeviceState,
  previous: StoredDeviceState | undefined,
  req: { now: number; correlationId: string },
): Promise<void> {
  try {
    await Promise.all([
      recordErrorChanges(deviceId, previous?.services, next.services, req),
      countAgentRecoveries(deviceId, previous, next, req.now),
    ]);
  } catch (err) {
    logger.error('recording the error history or recovery counts of a stored report failed', {
      deviceId,
      correlationId: req.correlationId,
      error: (err as Error).message,
    });
  }
}

/**
 * Findings → recovery jobs / alerts, cleared findings → resolved alerts (services/device-health.ts).
 * Runs after a changed state is stored. A failure here must not fail the report: the state is stored and the
 * agent must not resend it; the next change is evaluated again.
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
    logger.error('health evaluation of a stored report failed', {
      deviceId,
      correlationId: req.correlationId,
      error: (err as Error).message,
    });
  }
}
