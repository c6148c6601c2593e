/**
 * Error history: what changed in a device's service errors between the stored state and the merged one. Each
 * change (an error appears, its type changes, it clears) becomes one `service.error` event; a retry of the same
 * error (its count, its next-retry time, its message) is not a change. Computed only when a report changes the
 * stored state, so a heartbeat never costs an event (docs/architecture.md, "Error history").
 */
import type { ServiceErrorType, ServiceReport } from '../contract/report.js';

export const SERVICE_ERROR_EVENT = 'service.error';

export type ErrorChange =
  /** The service had no error and now has one. */
  | { service: string; change: 'raised'; type: ServiceErrorType; message: string; since: string }
  /** The service's error is of another type now. */
  | {
      service: string;
      change: 'changed';
      type: ServiceErrorType;
      previousType: ServiceErrorType;
      message: string;
      since: string;
    }
  /** The error is gone (the service recovered, or was removed from the device while in error). */
  | {
      service: string;
      change: 'cleared';
      type: ServiceErrorType;
      message: string;
      since: string;
      clearedAt: string;
      removed?: true;
    };

/** Changes by service name, in name order (a stable order for the events and the tests). */
export function errorChanges(
  previous: Record<string, ServiceReport> | undefined,
  next: Record<string, ServiceReport>,
  nowIso: string,
): ErrorChange[] {
  const out: ErrorChange[] = [];
  const names = [...new Set([...Object.keys(previous ?? {}), ...Object.keys(next)])].sort();
  for (const service of names) {
    const before = previous?.[service]?.error ?? null;
    const after = next[service]?.error ?? null;
    if (!before && after)
      out.push({ service, change: 'raised', type: after.type, message: after.message, since: after.timestamp });
    else if (before && after && before.type !== after.type)
      out.push({
        service,
        change: 'changed',
        type: after.type,
        previousType: before.type,
        message: after.message,
        since: after.timestamp,
      });
    else if (before && !after)
      out.push({
        service,
        change: 'cleared',
        type: before.type,
        message: before.message,
        since: before.timestamp,
        clearedAt: nowIso,
        ...(next[service] ? {} : { removed: true as const }),
      });
  }
  return out;
}
