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
import { type Actor, recordOperatorAction } from './audit.js';

export {
  listOpenCircuits,
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

/** Most circuits one call lists or resets: the answer says how many remain, and the caller repeats. */
export const RESET_ALL_MAX = 500;

export interface ResetAllOutcome {
  dryRun: boolean;
  /** Devices whose circuit was not closed when listed (all of them on a dry run, up to RESET_ALL_MAX). */
  found: { deviceId: string; state: string; consecutiveFailures: number }[];
  /** Devices whose circuit this call closed. */
  reset: string[];
  /** Listed but left for the next call: the time budget ran out. */
  remaining: number;
  /** Circuits may remain open after this call (budget or RESET_ALL_MAX reached): call again. */
  more: boolean;
}

/**
 * Reset every circuit that is not closed: the devices come from the sparse byOpenCircuit index (never a read of
 * the whole fleet), each is reset like a single reset (its event, the CircuitOpen alert resolved) and leaves its
 * own audit event. A dry run only lists them. Work stops at `deadline`; what is left is counted in `remaining`.
 */
export async function resetAllCircuits(
  opts: { dryRun: boolean; deadline: number },
  who: Actor,
): Promise<ResetAllOutcome> {
  const deviceIds = await store.listOpenCircuits(RESET_ALL_MAX);
  const found: ResetAllOutcome['found'] = [];
  const reset: string[] = [];
  const visited = new Set<string>();
  const PARALLEL = 8;
  for (let i = 0; i < deviceIds.length; i += PARALLEL) {
    if (!opts.dryRun && Date.now() >= opts.deadline) break;
    await Promise.all(
      deviceIds.slice(i, i + PARALLEL).map(async (deviceId) => {
        visited.add(deviceId);
        const current = await store.readCircuit(deviceId);
        // Closed since it was listed (a probe succeeded, someone reset it): nothing to do.
        if (current.state === 'closed') return;
        found.push({ deviceId, state: current.state, consecutiveFailures: current.consecutiveFailures });
        if (opts.dryRun) return;
        await resetCircuit(deviceId, who.by, { correlationId: who.correlationId, source: who.by, now: who.now });
        await recordOperatorAction(
          {
            action: 'circuit.reset',
            target: { kind: 'circuit', id: deviceId },
            deviceId,
            params: { all: true, from: current.state, consecutiveFailures: current.consecutiveFailures },
          },
          who,
        );
        reset.push(deviceId);
      }),
    );
  }
  const remaining = deviceIds.length - visited.size;
  const byId = (a: { deviceId: string }, b: { deviceId: string }) => a.deviceId.localeCompare(b.deviceId);
  return {
    dryRun: opts.dryRun,
    found: found.sort(byId),
    reset: reset.sort(),
    remaining,
    more: !opts.dryRun && (remaining > 0 || deviceIds.length >= RESET_ALL_MAX),
  };
}
