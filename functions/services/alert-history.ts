/** Alert events (raised, suppressed, resolved) in the operator's event history, beside the alert itself. */
import { recordEvent } from '../adapters/events.js';
import type { AlertRecord } from '../domain/alerting/dedupe.js';
import { logger } from '../lib/observability.js';

export async function recordAlertEvent(
  type: 'alert.raised' | 'alert.suppressed' | 'alert.resolved',
  r: Pick<AlertRecord, 'dedupeKey' | 'alertName' | 'deviceId' | 'service'>,
  detail: Record<string, unknown>,
  now: number,
  correlationId?: string,
) {
  try {
    await recordEvent(
      {
        type,
        deviceId: r.deviceId,
        service: r.service,
        correlationId,
        detail: { dedupeKey: r.dedupeKey, alertName: r.alertName, ...detail },
      },
      now,
    );
  } catch (err) {
    // The event is for the operator's history; the alert itself already went out (or was suppressed) correctly.
    logger.warn('could not record alert event', { type, dedupeKey: r.dedupeKey, error: (err as Error).message });
  }
}
