/**
 * Error history: each change of a service's error on a device (raised, changed type, cleared) becomes one
 * `service.error` event, written after the report's state change is stored (services/report-intake.ts). The
 * events are the history `fleetmedic device <id>` and `fleetmedic events --type service.error` show.
 *
 * Cost: only a stored state change gets here (an unchanged heartbeat writes nothing), and only a change of an
 * error's type writes an event: one PutItem per change. Why not one transaction with the state write: the same
 * reason as the circuit's events (services/circuit-breaker.ts); a crash between the two loses at most these
 * events, never the state, and a resent report is a duplicate that writes nothing.
 */
import { recordEvent } from '../adapters/events.js';
import type { ServiceReport } from '../contract/report.js';
import { errorChanges, SERVICE_ERROR_EVENT, type ErrorChange } from '../domain/error-history.js';

export async function recordErrorChanges(
  deviceId: string,
  previous: Record<string, ServiceReport> | undefined,
  next: Record<string, ServiceReport>,
  ctx: { now: number; correlationId?: string },
): Promise<ErrorChange[]> {
  const changes = errorChanges(previous, next, new Date(ctx.now).toISOString());
  await Promise.all(
    changes.map(({ service, ...detail }) =>
      recordEvent(
        { type: SERVICE_ERROR_EVENT, deviceId, service, correlationId: ctx.correlationId, detail: { ...detail } },
        ctx.now,
      ),
    ),
  );
  return changes;
}
