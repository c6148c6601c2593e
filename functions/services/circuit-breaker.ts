/**
 * The per-device circuit breaker as the rest of the code uses it: each change the store lands
 * (adapters/circuit-repo.ts: conditional writes, races re-decided) is then announced: its event goes to the fleet
 * feed, and a circuit that opens raises the CircuitOpen alert (deduped per device; CRITICAL once it keeps
 * re-opening) while one that closes (a successful probe, an operator reset) resolves it.
 *
 * Why the event is not in one TransactWriteItems with the transition: moto_server (tests, the local fleet)
 * implements a cancelled transaction by restoring a deep copy of every table it touched, which undoes concurrent
 * writes by others and copies whole tables on every call; lost races are the normal case here. The cost on
 * DynamoDB: a crash between the two writes keeps the transition and loses its event or alert (both logged).
 * Neither failing ever undoes or fails the transition.
 */
import * as store from '../adapters/circuit-repo.js';
import type { AdmitResult, AppliedChange, CircuitContext } from '../adapters/circuit-repo.js';
import { raiseAlert, resolveAlert } from './alerts.js';
import { recordEvent } from '../adapters/events.js';
import { circuitAlertKey, circuitOpenAlert } from '../domain/alerting/builders.js';
import { logger } from '../lib/observability.js';

export {
  readCircuit,
  circuitPolicy,
  type AdmitResult,
  type AppliedChange,
  type CircuitContext,
} from '../adapters/circuit-repo.js';

async function announce(deviceId: string, landed: AppliedChange, ctx: CircuitContext): Promise<void> {
  const { before, after, change, now } = landed;
  if (change.kind === 'write' && change.event) {
    const detail = { ...change.event.detail, ...(ctx.source ? { source: ctx.source } : {}) };
    try {
      await recordEvent(
        {
          type: change.event.type,
          deviceId,
          ...(ctx.correlationId ? { correlationId: ctx.correlationId } : {}),
          detail,
        },
        now,
      );
    } catch (err) {
      // The transition stands (it is the record of truth); only the feed entry is missing.
      logger.error('circuit transition stored but its event could not be recorded', {
        deviceId,
        event: change.event.type,
        detail,
        err,
      });
    }
  }
  try {
    if (after.state === 'open' && before.state !== 'open') {
      await raiseAlert(
        circuitOpenAlert({
          deviceId,
          openedAtMs: after.openedAt ?? now,
          consecutiveFailures: after.consecutiveFailures,
          openCount: after.openCount,
          retryAtMs: after.retryAtEpoch,
          correlationId: ctx.correlationId,
        }),
        { now },
      );
    } else if (after.state === 'closed' && before.state !== 'closed') {
      await resolveAlert(circuitAlertKey(deviceId), { now, correlationId: ctx.correlationId });
    }
  } catch (err) {
    logger.error('could not raise/resolve the CircuitOpen alert (the transition is stored)', {
      deviceId,
      to: after.state,
      correlationId: ctx.correlationId,
      error: (err as Error).message,
    });
  }
}

async function announced(
  deviceId: string,
  ctx: CircuitContext,
  landed: Promise<AppliedChange>,
): Promise<AppliedChange> {
  const applied = await landed;
  await announce(deviceId, applied, ctx);
  return applied;
}

export const recordFailure = (deviceId: string, ctx: CircuitContext = {}) =>
  announced(deviceId, ctx, store.recordFailure(deviceId, ctx));

export const recordSuccess = (deviceId: string, ctx: CircuitContext = {}) =>
  announced(deviceId, ctx, store.recordSuccess(deviceId, ctx));

export const resetCircuit = (deviceId: string, by: string, ctx: CircuitContext = {}) =>
  announced(deviceId, ctx, store.resetCircuit(deviceId, by, ctx));

/**
 * May a command (identified by `owner`, e.g. its job id) go to this device now? A closed circuit costs one read;
 * an open circuit past its cooldown elects exactly one probe fleet-wide (adapters/circuit-repo.ts admitCommand).
 */
export async function admitCommand(
  deviceId: string,
  owner: string,
  ctx: CircuitContext = {},
  opts: { electProbe?: boolean } = {},
): Promise<AdmitResult> {
  const result = await store.admitCommand(deviceId, owner, ctx, opts);
  if (result.admitted && result.landed) await announce(deviceId, result.landed, ctx);
  return result;
}
