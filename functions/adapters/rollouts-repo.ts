/**
 * Rollout state in ROLLOUTS_TABLE (docs/architecture.md "Rollouts"):
 *   `ROLLOUT#<id>` / `META`          the rollout: spec, status, per-stage progress, the controller's lease
 *   `ROLLOUT#<id>` / `SET#<nnnn>`    the frozen device set, in chunks of SET_CHUNK ids (10,000 devices: 20 items)
 *   `ROLLOUT#<id>` / `DEV#<nnnnnn>`  one per device a stage reached (by its index in the set): moved or skipped,
 *                                    its previous target (for rollback), its verdict
 *   `LIST` / `<createdAt>#<id>`      the listing, newest first
 *   `ACTIVE` / `<id>`                rollouts the controller still has work on (removed when terminal)
 * Every read is a GetItem or a Query on one partition; nothing scans. Writes that decide something are
 * conditional: the controller's lease (one controller per rollout at a time), a device record written once,
 * a verdict only on an in-progress device, a status change only from the status it was decided on.
 */
import { DeleteCommand, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { TargetStateDocument } from '../contract/target-state.js';
import type { StageProgress } from '../domain/rollouts/controller.js';
import type { AbortCriteria } from '../domain/rollouts/criteria.js';
import type { FailureCause, SkipReason } from '../domain/rollouts/device-outcome.js';
import type { OnAbort, RolloutStatus } from '../domain/rollouts/lifecycle.js';
import type { CanarySpec, WaveSpec } from '../domain/rollouts/plan.js';
import type { LabelSelector } from '../domain/rollouts/selection.js';
import { documentClient } from '../lib/aws.js';
import { config } from '../lib/config.js';
import { updateIf, writeIf } from './common/conditions.js';

/** Device ids per SET# item (~40 bytes each: 20 KB items). */
export const SET_CHUNK = 500;

export interface RolloutAbort {
  by: 'operator' | 'criterion';
  at: string;
  criterion?: string;
  scope?: string;
  detail: string;
  /** The criterion's value when it was met, and its limit (a criterion's abort). */
  value?: number;
  limit?: number;
  /** Failed devices grouped by cause, largest group first, with a sample of each (a criterion's abort). */
  failures?: { cause: string; count: number; sample: { deviceId: string; detail?: string }[] }[];
}

export interface Rollout {
  rolloutId: string;
  createdAt: string;
  createdBy: string;
  description?: string;
  selector?: LabelSelector;
  /** The target every device gets, with its version (the same for all: versions hash the content); or: */
  target?: TargetStateDocument;
  /** the job every device gets enqueued (a command, as an operator enqueues it for one device). */
  job?: RolloutJob;
  canary: CanarySpec;
  waves: WaveSpec;
  abortCriteria: AbortCriteria;
  onAbort: OnAbort;
  deviceTimeoutSeconds: number;
  deviceCount: number;
  status: RolloutStatus;
  stages: StoredStage[];
  abort?: RolloutAbort;
  finishedAt?: string;
  /** When its end was announced to on-call (an abort by a criterion, a completion with failures): once. */
  alertedAt?: string;
  /** Bumped by every write: readers can tell two reads apart. */
  version: number;
}

export interface StoredStage extends StageProgress {
  /** Every device of the stage has been moved or skipped (a run that died half-way is resumed until then). */
  moved?: boolean;
  finishedAt?: number;
}

export interface RolloutJob {
  type: string;
  params: Record<string, unknown>;
  inProgressTimeoutSeconds?: number;
}

export type DeviceRecordStatus = 'in-progress' | 'succeeded' | 'failed' | 'skipped';

export interface DeviceRecord {
  index: number;
  deviceId: string;
  stage: number;
  status: DeviceRecordStatus;
  movedAt?: number;
  /** The target the device had before the move (absent: it had none). */
  previousTarget?: TargetStateDocument;
  /** A job rollout's job for this device (its id fixed before it is enqueued: a re-run never enqueues twice). */
  jobId?: string;
  skipReason?: SkipReason;
  cause?: FailureCause;
  detail?: string;
  /** The error its services reported with the failure, for grouping failures by cause. */
  reason?: string;
  finishedAt?: number;
  /** Set once the rollback step dealt with the device: `restored`, or why it was left. */
  rollback?: 'restored' | 'no-previous-target' | 'target-changed';
}

const rolloutPk = (id: string) => `ROLLOUT#${id}`;
const setSk = (chunk: number) => `SET#${String(chunk).padStart(4, '0')}`;
const deviceSk = (index: number) => `DEV#${String(index).padStart(6, '0')}`;
const table = () => config.rolloutsTable;

function stripKeys<T>(item: Record<string, unknown>): T {
  const { pk: _pk, sk: _sk, leaseOwner: _o, leaseUntil: _u, ...rest } = item;
  return rest as T;
}

/**
 * Store a new rollout: the set chunks and the listing entries first, META last. META is the commit point: a
 * creation that died half-way leaves entries without META, which every reader ignores.
 */
export async function createRollout(rollout: Rollout, deviceChunks: string[][]): Promise<void> {
  const pk = rolloutPk(rollout.rolloutId);
  for (const [i, deviceIds] of deviceChunks.entries())
    await documentClient().send(new PutCommand({ TableName: table(), Item: { pk, sk: setSk(i), deviceIds } }));
  await documentClient().send(
    new PutCommand({
      TableName: table(),
      Item: { pk: 'LIST', sk: `${rollout.createdAt}#${rollout.rolloutId}`, rolloutId: rollout.rolloutId },
    }),
  );
  await documentClient().send(
    new PutCommand({ TableName: table(), Item: { pk: 'ACTIVE', sk: rollout.rolloutId, rolloutId: rollout.rolloutId } }),
  );
  await documentClient().send(
    new PutCommand({
      TableName: table(),
      Item: { pk, sk: 'META', ...rollout },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
}

export async function getRollout(rolloutId: string, consistent = true): Promise<Rollout | undefined> {
  const res = await documentClient().send(
    new GetCommand({ TableName: table(), Key: { pk: rolloutPk(rolloutId), sk: 'META' }, ConsistentRead: consistent }),
  );
  return res.Item ? stripKeys<Rollout>(res.Item) : undefined;
}

/** Rollout ids, newest first, one page of the listing. */
export async function listRolloutIds(
  limit: number,
  after?: string,
): Promise<{ rolloutIds: string[]; nextToken?: string }> {
  const res = await documentClient().send(
    new QueryCommand({
      TableName: table(),
      KeyConditionExpression: after ? 'pk = :pk AND sk < :after' : 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'LIST', ...(after ? { ':after': after } : {}) },
      ScanIndexForward: false,
      Limit: limit,
    }),
  );
  const items = res.Items ?? [];
  const last = items[items.length - 1];
  return {
    rolloutIds: items.map((i) => String(i.rolloutId)),
    ...(res.LastEvaluatedKey && last ? { nextToken: String(last.sk) } : {}),
  };
}

/** Rollouts the controller still has work on (active, paused, rolling back). */
export async function listActiveRolloutIds(): Promise<string[]> {
  const ids: string[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const res = await documentClient().send(
      new QueryCommand({
        TableName: table(),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'ACTIVE' },
        ExclusiveStartKey: startKey,
      }),
    );
    ids.push(...(res.Items ?? []).map((i) => String(i.rolloutId)));
    startKey = res.LastEvaluatedKey;
  } while (startKey);
  return ids;
}

export async function removeActive(rolloutId: string): Promise<void> {
  await documentClient().send(new DeleteCommand({ TableName: table(), Key: { pk: 'ACTIVE', sk: rolloutId } }));
}

/**
 * Take the controller's lease on a rollout: true for exactly one caller until `leaseMs` passes or it releases.
 * Only a rollout the controller has work on (active or rolling back) can be leased.
 */
export function claimLease(rolloutId: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
  return updateIf({
    TableName: table(),
    Key: { pk: rolloutPk(rolloutId), sk: 'META' },
    UpdateExpression: 'SET leaseOwner = :me, leaseUntil = :until',
    ConditionExpression:
      '(attribute_not_exists(leaseUntil) OR leaseUntil < :now) AND #status IN (:active, :rollingBack)',
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: {
      ':me': owner,
      ':until': now + leaseMs,
      ':now': now,
      ':active': 'active',
      ':rollingBack': 'rolling-back',
    },
  });
}

export async function releaseLease(rolloutId: string, owner: string): Promise<void> {
  await updateIf({
    TableName: table(),
    Key: { pk: rolloutPk(rolloutId), sk: 'META' },
    UpdateExpression: 'REMOVE leaseOwner, leaseUntil',
    ConditionExpression: 'leaseOwner = :me',
    ExpressionAttributeValues: { ':me': owner },
  });
}

/** The controller stores stage progress; only while it holds the lease. */
export function saveStages(rolloutId: string, owner: string, stages: StoredStage[]): Promise<boolean> {
  return updateIf({
    TableName: table(),
    Key: { pk: rolloutPk(rolloutId), sk: 'META' },
    UpdateExpression: 'SET stages = :stages, version = version + :one',
    ConditionExpression: 'leaseOwner = :me',
    ExpressionAttributeValues: { ':stages': stages, ':me': owner, ':one': 1 },
  });
}

/**
 * Move a rollout from `from` to `to` (an operator's pause/resume/abort, or the controller's abort/complete),
 * only if it still is `from`: an operator's change and the controller's never overwrite each other.
 */
export function setStatus(
  rolloutId: string,
  from: RolloutStatus,
  to: RolloutStatus,
  extra: { abort?: RolloutAbort; finishedAt?: string } = {},
): Promise<boolean> {
  const sets = ['#status = :to', 'version = version + :one'];
  const values: Record<string, unknown> = { ':from': from, ':to': to, ':one': 1 };
  if (extra.abort) {
    sets.push('#abort = :abort');
    values[':abort'] = extra.abort;
  }
  if (extra.finishedAt) {
    sets.push('#finishedAt = :fin');
    values[':fin'] = extra.finishedAt;
  }
  return updateIf({
    TableName: table(),
    Key: { pk: rolloutPk(rolloutId), sk: 'META' },
    UpdateExpression: `SET ${sets.join(', ')}`,
    ConditionExpression: '#status = :from',
    // `abort` is a reserved word.
    ExpressionAttributeNames: {
      '#status': 'status',
      ...(extra.abort ? { '#abort': 'abort' } : {}),
      ...(extra.finishedAt ? { '#finishedAt': 'finishedAt' } : {}),
    },
    ExpressionAttributeValues: values,
  });
}

/** The device ids at [start, end) of the frozen set (reads only the chunks that hold them). */
export async function deviceIdsInRange(rolloutId: string, start: number, end: number): Promise<string[]> {
  if (end <= start) return [];
  const first = Math.floor(start / SET_CHUNK);
  const last = Math.floor((end - 1) / SET_CHUNK);
  const res = await documentClient().send(
    new QueryCommand({
      TableName: table(),
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :a AND :b',
      ExpressionAttributeValues: { ':pk': rolloutPk(rolloutId), ':a': setSk(first), ':b': setSk(last) },
      ConsistentRead: true,
    }),
  );
  const ids = (res.Items ?? []).flatMap((i) => i.deviceIds as string[]);
  return ids.slice(start - first * SET_CHUNK, end - first * SET_CHUNK);
}

/** Device records at indexes [start, end), paged. */
export async function deviceRecords(rolloutId: string, start: number, end: number): Promise<DeviceRecord[]> {
  if (end <= start) return [];
  const out: DeviceRecord[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const res = await documentClient().send(
      new QueryCommand({
        TableName: table(),
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :a AND :b',
        ExpressionAttributeValues: { ':pk': rolloutPk(rolloutId), ':a': deviceSk(start), ':b': deviceSk(end - 1) },
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    out.push(...(res.Items ?? []).map((i) => stripKeys<DeviceRecord>(i)));
    startKey = res.LastEvaluatedKey;
  } while (startKey);
  return out;
}

/** Record a device's move or skip, once: false when a record for that index exists already. */
export function recordDevice(rolloutId: string, rec: DeviceRecord): Promise<boolean> {
  return writeIf(
    new PutCommand({
      TableName: table(),
      Item: { pk: rolloutPk(rolloutId), sk: deviceSk(rec.index), ...rec },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
}

/** Give an in-progress device its verdict (or turn it into a skip); false when it is not in progress any more. */
export function finishDevice(
  rolloutId: string,
  index: number,
  verdict: {
    status: 'succeeded' | 'failed' | 'skipped';
    finishedAt: number;
    cause?: FailureCause;
    skipReason?: SkipReason;
    detail?: string;
    reason?: string;
  },
): Promise<boolean> {
  const sets = ['#status = :to', 'finishedAt = :at'];
  const values: Record<string, unknown> = { ':to': verdict.status, ':at': verdict.finishedAt, ':from': 'in-progress' };
  // Names, not the words themselves: some attribute names are DynamoDB reserved words.
  const names: Record<string, string> = { '#status': 'status' };
  for (const k of ['cause', 'skipReason', 'detail', 'reason'] as const)
    if (verdict[k] !== undefined) {
      sets.push(`#${k} = :${k}`);
      names[`#${k}`] = k;
      values[`:${k}`] = verdict[k];
    }
  return updateIf({
    TableName: table(),
    Key: { pk: rolloutPk(rolloutId), sk: deviceSk(index) },
    UpdateExpression: `SET ${sets.join(', ')}`,
    ConditionExpression: '#status = :from',
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  });
}

/** Note what the rollback step did for a device, once. */
export function markRolledBack(
  rolloutId: string,
  index: number,
  outcome: NonNullable<DeviceRecord['rollback']>,
): Promise<boolean> {
  return updateIf({
    TableName: table(),
    Key: { pk: rolloutPk(rolloutId), sk: deviceSk(index) },
    UpdateExpression: 'SET #rb = :o',
    ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#rb)',
    ExpressionAttributeNames: { '#rb': 'rollback' },
    ExpressionAttributeValues: { ':o': outcome },
  });
}

/** Note that the rollout's end was announced; false when it already was (another run announced it). */
export function markAlerted(rolloutId: string, at: string): Promise<boolean> {
  return updateIf({
    TableName: table(),
    Key: { pk: rolloutPk(rolloutId), sk: 'META' },
    UpdateExpression: 'SET alertedAt = :at, version = version + :one',
    ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(alertedAt)',
    ExpressionAttributeValues: { ':at': at, ':one': 1 },
  });
}
