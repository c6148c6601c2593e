/**
 * The operator audit trail: every operator action (circuit reset, dead-letter redrive, silence, target change,
 * marker, device lifecycle, registry credential, job enqueue/cancel/retry/dead-letter, rollout) leaves one
 * `operator.action` event saying who (the caller identity the operator API authenticated: the IAM principal's
 * ARN, or `operator` with the local bearer token), when, what (action, target, parameters) and under which
 * correlation id. They are read like every other event: `GET /v1/events?type=operator.action`,
 * `fleetmedic events --type operator.action` (docs/runbook.md, "Audit trail").
 *
 * When it is written: right AFTER the action has landed, never inside its write. Most actions are not one
 * DynamoDB write (Secrets Manager, SQS, several items), the stores are separate adapters, and the project writes
 * no DynamoDB transactions (services/circuit-breaker.ts explains why). So:
 *  - an action that is refused or fails writes no audit event (the audit is only reached after it landed);
 *  - the audit write is idempotent: its event id is derived from the correlation id, the action, the target and
 *    the request time, and the put is conditional on that item not existing, so retrying it (below, or the SDK
 *    retrying a put whose answer was lost) leaves exactly one event;
 *  - if it still cannot be written, the whole audit record goes to the error log and the request fails (500),
 *    so the operator knows the trail has a gap; the action itself stands.
 * Secrets never reach it: callers pass only what identifies the change, and any parameter whose name looks like
 * a secret is replaced by `[redacted]` here as well.
 */
import { createHash } from 'node:crypto';
import { recordEventOnce } from '../adapters/events.js';
import { logger } from '../lib/observability.js';

export const AUDIT_EVENT_TYPE = 'operator.action';

export type AuditTargetKind =
  | 'device'
  | 'circuit'
  | 'job'
  | 'silence'
  | 'marker'
  | 'target'
  | 'registry-credential'
  | 'dead-letter-queue'
  | 'rollout';

export interface OperatorAction {
  /** What was done, e.g. `circuit.reset`, `job.cancel`, `registry-credential.put`. */
  action: string;
  target: { kind: AuditTargetKind; id: string };
  /** The device the action concerns, when there is one: the event then also lists under that device. */
  deviceId?: string;
  /** What identifies the change (never a secret value). */
  params?: Record<string, unknown>;
}

/** Who did it and when: the authenticated operator (as in job history), the request's correlation id and time. */
export interface Actor {
  by: string;
  correlationId: string;
  now: number;
}

const SECRET_NAME = /pass(word)?|secret|token|credential(?!s?$)|authorization|private.?key/i;
const ATTEMPTS = 3;

/** Parameters as stored: secret-looking names redacted, long strings cut, nesting kept shallow. */
export function auditParams(params: Record<string, unknown> = {}, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    if (SECRET_NAME.test(k)) out[k] = '[redacted]';
    else if (typeof v === 'string') out[k] = v.length > 256 ? `${v.slice(0, 256)}…` : v;
    else if (v && typeof v === 'object' && !Array.isArray(v))
      out[k] = depth < 2 ? auditParams(v as Record<string, unknown>, depth + 1) : '[object]';
    else out[k] = v;
  }
  return out;
}

export function auditEventId(action: OperatorAction, who: Actor): string {
  const h = createHash('sha256')
    .update([who.correlationId, action.action, action.target.kind, action.target.id, String(who.now)].join('\n'))
    .digest('hex');
  return `op_${h.slice(0, 24)}`;
}

export async function recordOperatorAction(action: OperatorAction, who: Actor): Promise<void> {
  const eventId = auditEventId(action, who);
  const detail = {
    action: action.action,
    by: who.by,
    target: action.target,
    params: auditParams(action.params),
  };
  let lastError: unknown;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    try {
      await recordEventOnce(
        {
          type: AUDIT_EVENT_TYPE,
          eventId,
          correlationId: who.correlationId,
          ...(action.deviceId ? { deviceId: action.deviceId } : {}),
          detail,
        },
        who.now,
      );
      return;
    } catch (err) {
      lastError = err;
    }
  }
  logger.error('operator action done but its audit event could not be written', {
    audit: { eventId, at: new Date(who.now).toISOString(), correlationId: who.correlationId, ...detail },
    error: (lastError as Error)?.message,
  });
  throw lastError;
}
