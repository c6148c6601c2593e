/**
 * Per-device circuit breaker state in FLEET_TABLE (`DEVICE#<id>` / `CIRCUIT`), driven by the pure state
 * machine in domain/circuit-breaker.ts.
 *
 * Concurrency (many Lambdas, one device):
 *  - No item means closed with 0 failures, and admitting a command to a closed circuit writes nothing.
 *  - A failure that only moves the counter is an atomic `ADD consecutiveFailures 1, version 1` guarded by the
 *    condition under which it is still "only a count". Concurrent failures never lose an increment and
 *    never retry each other out.
 *  - Everything else (open, half-open, close, reset, probe election) is a single-item write conditional on the
 *    version that was read. Exactly one writer wins a given transition; losers re-read and re-decide (usually
 *    ending as a count, or seeing the new state).
 * Each landed change is returned with the record before and after it; recording its event and raising or
 * resolving the CircuitOpen alert is services/circuit-breaker.ts.
 */
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  CLOSED_CIRCUIT,
  admit,
  onFailure,
  onSuccess,
  reset,
  stateGauge,
  type Admission,
  type CircuitChange,
  type CircuitPolicy,
  type CircuitRecord,
  type CircuitState,
} from '../domain/circuit-breaker.js';
import { documentClient } from '../lib/aws.js';
import { config } from '../lib/config.js';
import { logger, metrics } from '../lib/observability.js';
import { isConditionFailure, raceBackoff } from './common/conditions.js';
import { devicePk } from './common/keys.js';
import { allShards, OPEN_CIRCUIT_SHARDS, openCircuitShard } from '../domain/shards.js';

/** A race is lost at most once per competing writer; this bound only stops a runaway loop. */
const MAX_ATTEMPTS = 200;

export function circuitPolicy(): CircuitPolicy {
  const cooldownMs = config.circuitCooldownSeconds * 1000;
  return {
    failureThreshold: Math.max(1, config.circuitFailureThreshold),
    cooldownMs,
    maxCooldownMs: Math.max(cooldownMs, config.circuitMaxCooldownSeconds * 1000),
    probeLeaseMs: config.circuitProbeLeaseSeconds * 1000,
  };
}

export interface CircuitContext {
  /** Carried into the events this change records. */
  correlationId?: string;
  /** What caused it: a job id, `recovery:<service>`, `operator:<id>`. */
  source?: string;
  now?: number;
}

interface CircuitItem {
  state: CircuitState;
  consecutiveFailures: number;
  version: number;
  openedAt?: string;
  retryAtEpoch?: number;
  openCount?: number;
  openStreak?: number;
  probeOwner?: string;
  probeLeaseUntilEpoch?: number;
}

const key = (deviceId: string) => ({ pk: devicePk(deviceId), sk: 'CIRCUIT' });

export function fromItem(item: Record<string, unknown> | undefined): CircuitRecord {
  if (!item) return { ...CLOSED_CIRCUIT };
  const i = item as unknown as CircuitItem;
  const r: CircuitRecord = {
    state: i.state ?? 'closed',
    consecutiveFailures: Number(i.consecutiveFailures ?? 0),
    version: Number(i.version ?? 0),
    openCount: Number(i.openCount ?? 0),
    openStreak: Number(i.openStreak ?? 0),
  };
  if (i.openedAt) r.openedAt = Date.parse(i.openedAt);
  if (i.retryAtEpoch !== undefined) r.retryAtEpoch = Number(i.retryAtEpoch);
  if (i.probeOwner) r.probeOwner = i.probeOwner;
  if (i.probeLeaseUntilEpoch !== undefined) r.probeLeaseUntilEpoch = Number(i.probeLeaseUntilEpoch);
  return r;
}

function toItem(deviceId: string, r: CircuitRecord): Record<string, unknown> {
  const item: Record<string, unknown> = {
    ...key(deviceId),
    state: r.state,
    consecutiveFailures: r.consecutiveFailures,
    version: r.version,
    openCount: r.openCount,
    openStreak: r.openStreak,
  };
  if (r.openedAt !== undefined) item.openedAt = new Date(r.openedAt).toISOString();
  if (r.retryAtEpoch !== undefined) item.retryAtEpoch = r.retryAtEpoch;
  if (r.probeOwner !== undefined) item.probeOwner = r.probeOwner;
  if (r.probeLeaseUntilEpoch !== undefined) item.probeLeaseUntilEpoch = r.probeLeaseUntilEpoch;
  // In the sparse byOpenCircuit index exactly while not closed: every state change is a whole-item put (a
  // count never changes the state), so the attribute comes and goes with the state.
  if (r.state !== 'closed') item.openCircuitShard = openCircuitShard(deviceId);
  return item;
}

export async function readCircuit(deviceId: string, consistent = true): Promise<CircuitRecord> {
  const res = await documentClient().send(
    new GetCommand({ TableName: config.fleetTable, Key: key(deviceId), ConsistentRead: consistent }),
  );
  return fromItem(res.Item);
}

export interface AppliedChange {
  before: CircuitRecord;
  after: CircuitRecord;
  change: CircuitChange;
  /** Write attempts lost to concurrent writers before this one landed. */
  conflicts: number;
  /** When the change was decided. */
  now: number;
}

/** Persist one decided change. Returns the stored record, or null when a concurrent writer got there first. */
async function persist(deviceId: string, base: CircuitRecord, change: CircuitChange): Promise<CircuitRecord | null> {
  const client = documentClient();
  try {
    if (change.kind === 'none') return base;
    if (change.kind === 'count') {
      const guard =
        change.guard.state === 'open'
          ? { ConditionExpression: '#state = :open', values: { ':open': 'open' } }
          : {
              ConditionExpression: 'attribute_not_exists(#state) OR (#state = :closed AND consecutiveFailures <= :max)',
              values: { ':closed': 'closed', ':max': change.guard.maxFailuresBefore },
            };
      const res = await client.send(
        new UpdateCommand({
          TableName: config.fleetTable,
          Key: key(deviceId),
          UpdateExpression:
            'SET #state = if_not_exists(#state, :closedState), openCount = if_not_exists(openCount, :zero), openStreak = if_not_exists(openStreak, :zero) ADD consecutiveFailures :one, version :one',
          ConditionExpression: guard.ConditionExpression,
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ...guard.values, ':closedState': 'closed', ':zero': 0, ':one': 1 },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return fromItem(res.Attributes);
    }
    const condition =
      base.version === 0
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : { ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': base.version } };
    await client.send(
      new PutCommand({ TableName: config.fleetTable, Item: toItem(deviceId, change.next), ...condition }),
    );
  } catch (err) {
    if (isConditionFailure(err)) return null;
    throw err;
  }
  return change.next;
}

/** Read, decide with the pure state machine, persist; on a lost race re-read and decide again. */
async function run(
  deviceId: string,
  decide: (r: CircuitRecord, now: number) => CircuitChange,
  ctx: CircuitContext,
): Promise<AppliedChange> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const now = ctx.now ?? Date.now();
    const before = await readCircuit(deviceId);
    const change = decide(before, now);
    const after = await persist(deviceId, before, change);
    if (after) {
      observeTransition(deviceId, before, after, change, ctx);
      return { before, after, change, conflicts: attempt, now };
    }
    await raceBackoff(attempt);
  }
  throw new Error(`circuit ${deviceId}: gave up after ${MAX_ATTEMPTS} lost races`);
}

export const recordFailure = (deviceId: string, ctx: CircuitContext = {}) =>
  run(deviceId, (r, now) => onFailure(r, now, circuitPolicy()), ctx);

export const recordSuccess = (deviceId: string, ctx: CircuitContext = {}) =>
  run(deviceId, (r, now) => onSuccess(r, now), ctx);

export const resetCircuit = (deviceId: string, by: string, ctx: CircuitContext = {}) =>
  run(deviceId, (r, now) => reset(r, now, by), ctx);

export type AdmitResult =
  /** `landed`: the admission changed the circuit (a probe elected, a state moved), with the record before it. */
  | (Admission & { admitted: true; record: CircuitRecord; landed?: AppliedChange })
  | (Admission & { admitted: false; record: CircuitRecord });

/**
 * May a command (identified by `owner`, e.g. its job id) go to this device now? A closed circuit costs one
 * read. An open circuit past its cooldown elects exactly one probe fleet-wide by a conditional write
 * (unless `electProbe: false`, for commands completed cloud-side).
 */
export async function admitCommand(
  deviceId: string,
  owner: string,
  ctx: CircuitContext = {},
  opts: { electProbe?: boolean } = {},
): Promise<AdmitResult> {
  const policy = circuitPolicy();
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const now = ctx.now ?? Date.now();
    const before = await readCircuit(deviceId);
    const admission = admit(before, now, owner, policy);
    if (!admission.admitted) return { ...admission, record: before };
    // A command that never reaches the device (applied cloud-side) cannot tell whether the device recovered:
    // admit it once the cooldown allows a probe, but leave the probe to a command that does reach the device.
    if (opts.electProbe === false && admission.probe)
      return { admitted: true, probe: false, change: { kind: 'none', record: before }, record: before };
    const after = await persist(deviceId, before, admission.change);
    if (after) {
      observeTransition(deviceId, before, after, admission.change, ctx);
      return {
        ...admission,
        record: after,
        landed: { before, after, change: admission.change, conflicts: attempt, now },
      };
    }
    await raceBackoff(attempt);
  }
  throw new Error(`circuit ${deviceId}: gave up after ${MAX_ATTEMPTS} lost races`);
}

function observeTransition(
  deviceId: string,
  before: CircuitRecord,
  after: CircuitRecord,
  change: CircuitChange,
  ctx: CircuitContext,
): void {
  if (before.state === after.state && !(change.kind === 'write' && change.event)) return;
  // The gauge carries no device id: one dimension value per device would explode metric cardinality.
  // The device is in the log line and the event instead.
  const single = metrics.singleMetric();
  single.addMetric('circuit_breaker_state', MetricUnit.Count, stateGauge(after.state));
  const transitions = metrics.singleMetric();
  transitions.addDimension('to', after.state);
  transitions.addMetric('circuit_transitions_total', MetricUnit.Count, 1);
  logger.info('circuit transition', {
    deviceId,
    from: before.state,
    to: after.state,
    consecutiveFailures: after.consecutiveFailures,
    source: ctx.source,
    event: change.kind === 'write' ? change.event?.type : undefined,
  });
}

/**
 * The devices whose circuit is not closed (open or half-open), from the sparse byOpenCircuit index: one Query
 * per shard, keys only, reading only those devices however large the fleet. At most `max` of them.
 */
export async function listOpenCircuits(max: number): Promise<string[]> {
  const out: string[] = [];
  for (const shard of allShards('circ', OPEN_CIRCUIT_SHARDS)) {
    let start: Record<string, unknown> | undefined;
    do {
      const res = await documentClient().send(
        new QueryCommand({
          TableName: config.fleetTable,
          IndexName: 'byOpenCircuit',
          KeyConditionExpression: 'openCircuitShard = :s',
          ExpressionAttributeValues: { ':s': shard },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of res.Items ?? []) {
        if (out.length >= max) return out.sort();
        out.push(String(item.pk).slice('DEVICE#'.length));
      }
      start = res.LastEvaluatedKey;
    } while (start);
  }
  return out.sort();
}
