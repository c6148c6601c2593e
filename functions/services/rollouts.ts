/**
 * Fleet rollouts (docs/architecture.md "Rollouts"): one target state to a frozen set of devices, a canary then
 * waves, watched by the rollout controller (handlers/rollout-controller.ts, every minute) and aborted on its
 * own when the abort criteria are met. Operators create, pause, resume and abort through the operator API.
 *
 * Safety across controllers, retries and crashes:
 *  - one controller works on a rollout at a time (a lease on its META item, adapters/rollouts-repo.ts);
 *  - a device is moved at most once (its record is written once, before its target; a run that died between the
 *    two is finished by the next run, which re-applies the target only over the previous one it recorded);
 *  - a stage's start is stored before its first device moves, and the rollout's status is re-read between
 *    batches of moves, so a pause or abort stops new moves within one batch;
 *  - counts are recomputed from the device records each run (never incremented), so a repeated run counts
 *    nothing twice.
 *
 * Over the ~400 lines a file keeps to: creation, the operator's actions and the controller's steps (move, judge,
 * abort, roll back) share the safety rules above; split apart, those rules would be stated nowhere whole.
 */
import { randomUUID } from 'node:crypto';
import { fromItem as circuitFromItem } from '../adapters/circuit-repo.js';
import {
  batchGetDeviceItems,
  devicesInService,
  findDeviceIdsByLabels,
  getTarget,
  putTarget,
} from '../adapters/devices-repo.js';
import { recordEvent } from '../adapters/events.js';
import { markerActive, markerSk } from '../adapters/markers-repo.js';
import { registryCredentialExists } from '../adapters/registry-credential-store.js';
import {
  claimLease,
  createRollout as storeRollout,
  deviceIdsInRange,
  deviceRecords,
  finishDevice,
  getRollout,
  listActiveRolloutIds,
  listRolloutIds,
  markRolledBack,
  recordDevice,
  releaseLease,
  removeActive,
  saveStages,
  SET_CHUNK,
  setStatus,
  type DeviceRecord,
  type Rollout,
  type RolloutAbort,
  type RolloutJob,
  type StoredStage,
} from '../adapters/rollouts-repo.js';
import type { TargetState, TargetStateDocument } from '../contract/target-state.js';
import { decide, rolloutCounts, stageDone } from '../domain/rollouts/controller.js';
import {
  closeness,
  emptyCounts,
  type AbortCriteria,
  type Closeness,
  type Counts,
} from '../domain/rollouts/criteria.js';
import {
  judgeDevice,
  judgeJob,
  skipReason,
  type DeviceOutcome,
  type ReportedState,
} from '../domain/rollouts/device-outcome.js';
import { defaultInProgressTimeoutSeconds } from '../domain/job-lifecycle.js';
import {
  abortStatus,
  applyAction,
  isTerminal,
  type OnAbort,
  type OperatorAction,
} from '../domain/rollouts/lifecycle.js';
import { planStages, PlanTooLongError, type CanarySpec, type WaveSpec } from '../domain/rollouts/plan.js';
import {
  chunk,
  formatSelector,
  freezeDeviceSet,
  MAX_ROLLOUT_DEVICES,
  type LabelSelector,
} from '../domain/rollouts/selection.js';
import { targetVersion } from '../domain/target-version.js';
import { config } from '../lib/config.js';
import { timeOrderedId } from '../lib/ids.js';
import { logger } from '../lib/observability.js';
import { notifyDevice } from './device-push.js';
import { announceRolloutEnd, failuresByCause } from './rollout-alerts.js';
import { enqueueRolloutJob, jobRolloutProblem, jobsOf, rolloutJobId } from './rollout-jobs.js';

/** A controller's lease outlives its function's timeout (55 s), so a live run never loses it. */
const LEASE_MS = 120_000;
/** Moves stop after this long in one run (the next run resumes the stage): the run ends before its timeout. */
const MOVE_BUDGET_MS = 35_000;
/** Devices moved between two re-reads of the rollout's status (a pause/abort stops within one batch). */
const MOVE_BATCH = 25;

export interface CreateRolloutInput {
  selector?: LabelSelector;
  deviceIds?: string[];
  /** What each device gets: a target state, or a job (exactly one of the two). */
  target?: TargetState;
  job?: RolloutJob;
  canary: CanarySpec;
  waves: WaveSpec;
  abortCriteria: AbortCriteria;
  onAbort: OnAbort;
  deviceTimeoutSeconds?: number;
  description?: string;
}

export interface InputProblem {
  path: string;
  code: string;
  message: string;
}

export type CreateRolloutResult =
  | { kind: 'created'; rollout: Rollout }
  | { kind: 'invalid'; message: string; issues: InputProblem[] };

const invalid = (path: string, code: string, message: string): CreateRolloutResult => ({
  kind: 'invalid',
  message: `Invalid request: ${message}`,
  issues: [{ path, code, message }],
});

export async function createRollout(
  input: CreateRolloutInput,
  by: string,
  now: number,
  correlationId?: string,
): Promise<CreateRolloutResult> {
  if (!input.target === !input.job)
    return invalid('target', 'target_or_job', 'give a target or a job for every device, exactly one of the two');
  if (input.job) {
    const refused = jobRolloutProblem(input.job, input.onAbort);
    if (refused) return invalid(refused.path, refused.code, refused.message);
  }
  const names = input.target?.registryCredentials ?? [];
  const exists = await Promise.all(names.map((n) => registryCredentialExists(n)));
  const unknown = names.findIndex((_n, i) => !exists[i]);
  if (unknown !== -1)
    return invalid(
      `target.registryCredentials.${unknown}`,
      'unknown_reference',
      `no registry credential named '${names[unknown]}' (store it first: PUT /v1/registry-credentials/{name})`,
    );

  let deviceIds: string[];
  if (input.selector) {
    const found = await findDeviceIdsByLabels(input.selector, MAX_ROLLOUT_DEVICES);
    if (found.truncated)
      return invalid(
        'selector',
        'too_many_devices',
        `selector ${formatSelector(input.selector)} matches more than ${MAX_ROLLOUT_DEVICES} devices: narrow it`,
      );
    deviceIds = found.deviceIds;
    if (!deviceIds.length)
      return invalid('selector', 'no_devices', `selector ${formatSelector(input.selector)} matches no device`);
  } else {
    const wanted = freezeDeviceSet(input.deviceIds ?? []);
    const known = await devicesInService(wanted);
    const missing = wanted.filter((id) => !known.has(id));
    if (missing.length)
      return invalid(
        'deviceIds',
        'unknown_device',
        `no device ${missing
          .slice(0, 10)
          .map((m) => `'${m}'`)
          .join(', ')}${missing.length > 10 ? ` and ${missing.length - 10} more` : ''}`,
      );
    deviceIds = wanted;
  }
  const frozen = freezeDeviceSet(deviceIds);

  let stages: StoredStage[];
  try {
    stages = planStages(frozen.length, input.canary, input.waves).map((s) => ({ ...s, counts: pendingCounts(s) }));
  } catch (err) {
    if (err instanceof PlanTooLongError) return invalid('waves', 'too_many_stages', err.message);
    throw err;
  }
  const iso = new Date(now).toISOString();
  // A device with no verdict this long after its move failed (timed out): the health window, or the job's timeout.
  const verdictWithin = input.target
    ? input.target.rollbackWindowSeconds
    : (input.job!.inProgressTimeoutSeconds ?? defaultInProgressTimeoutSeconds(input.job!.type));
  const rollout: Rollout = {
    rolloutId: `ro_${timeOrderedId(now)}`,
    createdAt: iso,
    createdBy: by,
    ...(input.description ? { description: input.description } : {}),
    ...(input.selector ? { selector: input.selector } : {}),
    ...(input.target
      ? { target: { version: targetVersion(input.target), updatedAt: iso, target: input.target } }
      : { job: input.job! }),
    canary: input.canary,
    waves: input.waves,
    abortCriteria: input.abortCriteria,
    onAbort: input.onAbort,
    deviceTimeoutSeconds: input.deviceTimeoutSeconds ?? verdictWithin + 600,
    deviceCount: frozen.length,
    status: 'active',
    stages,
    version: 1,
  };
  await storeRollout(rollout, chunk(frozen, SET_CHUNK));
  await recordEvent(
    {
      type: 'rollout.created',
      ...(correlationId ? { correlationId } : {}),
      detail: { rolloutId: rollout.rolloutId, devices: frozen.length, stages: stages.length, by },
    },
    now,
  );
  return { kind: 'created', rollout };
}

const pendingCounts = (s: { start: number; end: number }): Counts => ({ ...emptyCounts(), pending: s.end - s.start });

// ---------------------------------------------------------------- operator views and actions

export interface RolloutView {
  rollout: Rollout;
  totals: Counts;
  criteria: { rollout: Closeness; stage?: { name: string } & Closeness };
}

export function viewOf(rollout: Rollout): RolloutView {
  const totals = rolloutCounts(rollout.stages);
  const current = [...rollout.stages].reverse().find((s) => s.startedAt !== undefined);
  return {
    rollout,
    totals,
    criteria: {
      rollout: closeness(totals, rollout.abortCriteria, rollout.deviceCount),
      ...(current
        ? {
            stage: {
              name: current.name,
              ...closeness(current.counts, rollout.abortCriteria, current.end - current.start),
            },
          }
        : {}),
    },
  };
}

export async function rolloutView(rolloutId: string): Promise<RolloutView | undefined> {
  const r = await getRollout(rolloutId, false);
  return r && viewOf(r);
}

export async function listRollouts(
  limit: number,
  nextToken?: string,
): Promise<{ rollouts: RolloutView[]; nextToken?: string }> {
  const page = await listRolloutIds(limit, nextToken);
  const found = await Promise.all(page.rolloutIds.map((id) => getRollout(id, false)));
  return {
    rollouts: found.filter((r): r is Rollout => !!r).map(viewOf),
    ...(page.nextToken ? { nextToken: page.nextToken } : {}),
  };
}

export type ActionResult =
  | { kind: 'done'; view: RolloutView }
  | { kind: 'not-found' }
  | { kind: 'conflict'; reason: string; status: string };

export async function actOnRollout(
  rolloutId: string,
  action: OperatorAction,
  by: string,
  now: number,
  reason?: string,
  correlationId?: string,
): Promise<ActionResult> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = await getRollout(rolloutId);
    if (!r) return { kind: 'not-found' };
    const t = applyAction(r.status, action, r.onAbort);
    if (!t.ok) return { kind: 'conflict', reason: t.reason, status: r.status };
    const abort: RolloutAbort | undefined =
      action === 'abort'
        ? { by: 'operator', at: new Date(now).toISOString(), detail: reason ?? `aborted by ${by}` }
        : undefined;
    const finishedAt = t.status === 'aborted' ? new Date(now).toISOString() : undefined;
    if (
      !(await setStatus(rolloutId, r.status, t.status, {
        ...(abort ? { abort } : {}),
        ...(finishedAt ? { finishedAt } : {}),
      }))
    )
      continue;
    if (isTerminal(t.status)) await removeActive(rolloutId);
    await recordEvent(
      {
        type: `rollout.${action === 'abort' ? 'aborted' : action === 'pause' ? 'paused' : 'resumed'}`,
        ...(correlationId ? { correlationId } : {}),
        detail: { rolloutId, by, status: t.status, ...(abort ? { reason: abort.detail } : {}) },
      },
      now,
    );
    return { kind: 'done', view: viewOf((await getRollout(rolloutId))!) };
  }
  throw new Error(`rollout ${rolloutId}: status kept changing under ${action}`);
}

// ---------------------------------------------------------------- the controller

export type AdvanceOutcome =
  | { kind: 'busy' }
  | { kind: 'idle'; status: string }
  | { kind: 'waiting'; reason: string }
  | { kind: 'stage-started'; stage: string; moved: number; skipped: number; interrupted: boolean }
  | { kind: 'aborted'; abort: RolloutAbort }
  | { kind: 'rolling-back'; restored: number; done: boolean }
  | { kind: 'completed'; failed: number };

/** Every rollout with work left, one after the other (the schedule's entry point). */
export async function advanceActiveRollouts(now = Date.now()): Promise<Record<string, AdvanceOutcome>> {
  const owner = randomUUID();
  const out: Record<string, AdvanceOutcome> = {};
  for (const id of await listActiveRolloutIds()) {
    const r = await getRollout(id, false);
    if (!r) continue; // a creation that died before its META: nothing to do
    if (isTerminal(r.status)) {
      // A run that died after the final status but before its alert: announce it now, then drop it.
      await announceRolloutEnd(r, now);
      await removeActive(id);
      continue;
    }
    if (r.status === 'paused') continue;
    out[id] = await advanceRollout(id, owner, now);
  }
  return out;
}

/** One controller step for one rollout, under its lease (another controller holding it: `busy`). */
export async function advanceRollout(rolloutId: string, owner: string, now: number): Promise<AdvanceOutcome> {
  if (!(await claimLease(rolloutId, owner, now, LEASE_MS))) return { kind: 'busy' };
  try {
    const r = (await getRollout(rolloutId))!;
    if (r.status === 'rolling-back') {
      await announceRolloutEnd(r, now);
      return await rollBack(r, now);
    }
    if (r.status !== 'active') return { kind: 'idle', status: r.status };

    // A stage whose moves a previous run did not finish (it died, hit its budget, or was paused) goes on first.
    const unfinished = r.stages.findIndex((s) => s.startedAt !== undefined && !s.moved);
    if (unfinished !== -1) {
      const moved = await moveStage(r, unfinished, owner, now);
      if (moved.interrupted) return { kind: 'stage-started', stage: r.stages[unfinished]!.name, ...moved };
    }
    await refreshCounts(r, now);
    if (!(await saveStages(rolloutId, owner, r.stages))) return { kind: 'busy' };

    const decision = decide(r.stages, r.abortCriteria, now, config.rolloutStageSpacingMs);
    switch (decision.kind) {
      case 'wait':
        return { kind: 'waiting', reason: decision.reason };
      case 'abort': {
        const abort: RolloutAbort = {
          by: 'criterion',
          at: new Date(now).toISOString(),
          criterion: decision.breach.criterion,
          scope: decision.breach.scope,
          detail: decision.breach.detail,
          value: decision.breach.value,
          limit: decision.breach.limit,
          failures: await failuresByCause(r),
        };
        const to = abortStatus(r.onAbort);
        if (
          !(await setStatus(rolloutId, 'active', to, { abort, ...(to === 'aborted' ? { finishedAt: abort.at } : {}) }))
        )
          return { kind: 'busy' };
        await recordEvent({ type: 'rollout.aborted', detail: { rolloutId, ...abort } }, now);
        logger.warn('rollout aborted', {
          rolloutId,
          criterion: abort.criterion,
          scope: abort.scope,
          detail: abort.detail,
        });
        // The alert before the rollout leaves the work list: a run dying in between is finished by the next.
        await announceRolloutEnd(
          { ...r, status: to, abort, ...(to === 'aborted' ? { finishedAt: abort.at } : {}) },
          now,
        );
        if (to === 'aborted') await removeActive(rolloutId);
        else await rollBack({ ...r, status: to }, now);
        return { kind: 'aborted', abort };
      }
      case 'complete': {
        const finishedAt = new Date(now).toISOString();
        if (!(await setStatus(rolloutId, 'active', 'completed', { finishedAt }))) return { kind: 'busy' };
        await announceRolloutEnd({ ...r, status: 'completed', finishedAt }, now);
        await removeActive(rolloutId);
        const totals = rolloutCounts(r.stages);
        await recordEvent({ type: 'rollout.completed', detail: { rolloutId, ...totals } }, now);
        return { kind: 'completed', failed: totals.failed };
      }
      case 'start-stage': {
        const stage = r.stages[decision.index]!;
        stage.startedAt = now;
        // Stored before the first move: a run that dies mid-stage is resumed, never restarted elsewhere.
        if (!(await saveStages(rolloutId, owner, r.stages))) return { kind: 'busy' };
        await recordEvent(
          { type: 'rollout.stage_started', detail: { rolloutId, stage: stage.name, devices: stage.end - stage.start } },
          now,
        );
        const moved = await moveStage(r, decision.index, owner, now);
        return { kind: 'stage-started', stage: stage.name, ...moved };
      }
    }
  } finally {
    await releaseLease(rolloutId, owner);
  }
}

/** Move (or skip) every device of a stage not recorded yet; re-apply the target of recorded in-progress ones. */
async function moveStage(
  r: Rollout,
  index: number,
  owner: string,
  now: number,
): Promise<{ moved: number; skipped: number; interrupted: boolean }> {
  const stage = r.stages[index]!;
  const ids = await deviceIdsInRange(r.rolloutId, stage.start, stage.end);
  const existing = new Map((await deviceRecords(r.rolloutId, stage.start, stage.end)).map((d) => [d.index, d]));
  const started = Date.now();
  let moved = 0;
  let skipped = 0;
  for (let b = 0; b < ids.length; b += MOVE_BATCH) {
    // Between batches: stop at once when an operator paused or aborted, or this run's time is up.
    const current = await getRollout(r.rolloutId);
    if (current?.status !== 'active' || Date.now() - started > MOVE_BUDGET_MS)
      return { moved, skipped, interrupted: true };
    const batch = ids.slice(b, b + MOVE_BATCH);
    const items = await batchGetDeviceItems(batch, ['TARGET', 'CIRCUIT', markerSk()]);
    for (const [k, deviceId] of batch.entries()) {
      const at = stage.start + b + k;
      const rec = existing.get(at);
      if (rec) {
        if (rec.status === 'in-progress') await applyMove(r, rec, now);
        continue;
      }
      const own = items.get(deviceId) ?? new Map<string, Record<string, unknown>>();
      const marker = own.get(markerSk());
      const skip = skipReason({
        circuitState: circuitFromItem(own.get('CIRCUIT')).state,
        deviceMarkerActive: !!marker && markerActive(marker, now),
      });
      if (skip) {
        if (
          await recordDevice(r.rolloutId, {
            index: at,
            deviceId,
            stage: index,
            status: 'skipped',
            skipReason: skip,
            finishedAt: now,
          })
        )
          skipped++;
        continue;
      }
      const previous = r.target && targetDoc(own.get('TARGET'));
      const record: DeviceRecord = {
        index: at,
        deviceId,
        stage: index,
        status: 'in-progress',
        movedAt: now,
        ...(previous && previous.version !== r.target?.version ? { previousTarget: previous } : {}),
        ...(r.job ? { jobId: rolloutJobId(r.rolloutId, at) } : {}),
      };
      // The record first: whatever happens next, this device is never moved twice, and its previous target is kept.
      if (!(await recordDevice(r.rolloutId, record))) continue;
      if (await applyMove(r, record, now)) moved++;
      else skipped++;
    }
  }
  stage.moved = true;
  await saveStages(r.rolloutId, owner, r.stages);
  return { moved, skipped, interrupted: false };
}

/** Move a recorded device: enqueue its job (a job rollout) or give it the target. */
function applyMove(r: Rollout, rec: DeviceRecord, now: number): Promise<boolean> {
  return r.job ? enqueueRolloutJob(r.rolloutId, r.job, rec, now) : applyTarget(r, r.target!, rec, now);
}

/**
 * Give a recorded device the rollout's target, over the target it had (so a change someone made in between is
 * never overwritten: the device is then skipped as `target-changed`). True when the device has the target.
 */
async function applyTarget(r: Rollout, target: TargetStateDocument, rec: DeviceRecord, now: number): Promise<boolean> {
  const doc: TargetStateDocument = { ...target, updatedAt: new Date(now).toISOString() };
  // No recorded previous target: the device had none (or already had this version, and the write is refused).
  if (await putTarget(rec.deviceId, doc, rec.previousTarget?.version ?? null)) {
    await notifyDevice(rec.deviceId, 'target', now);
    return true;
  }
  const current = await getTarget(rec.deviceId);
  if (current?.version === target.version) return true;
  await finishDevice(r.rolloutId, rec.index, {
    status: 'skipped',
    skipReason: 'target-changed',
    finishedAt: now,
    detail: `its target changed to ${current?.version ?? 'none'} while the rollout moved it`,
  });
  return false;
}

function targetDoc(item: Record<string, unknown> | undefined): TargetStateDocument | undefined {
  if (!item) return undefined;
  return { version: String(item.version), updatedAt: String(item.updatedAt), target: item.target as TargetState };
}

/** Judge the in-progress devices of every started, unfinished stage and recount each such stage. */
async function refreshCounts(r: Rollout, now: number): Promise<void> {
  for (const stage of r.stages) {
    if (stage.startedAt === undefined || stage.finishedAt !== undefined) continue;
    const records = await deviceRecords(r.rolloutId, stage.start, stage.end);
    const open = records.filter((d) => d.status === 'in-progress');
    if (open.length && r.job) {
      for (const [d, job] of await jobsOf(open))
        await finish(
          r,
          d,
          judgeJob({ ...job, movedAt: d.movedAt ?? now, now, timeoutMs: r.deviceTimeoutSeconds * 1000 }),
          now,
        );
    } else if (open.length) {
      const windowMs = r.target!.target.rollbackWindowSeconds * 1000;
      const images = Object.fromEntries(Object.entries(r.target!.target.services).map(([n, s]) => [n, s.image]));
      const states = await batchGetDeviceItems(
        open.map((d) => d.deviceId),
        ['STATE'],
      );
      for (const d of open) {
        const state = states.get(d.deviceId)?.get('STATE');
        const verdict = judgeDevice({
          version: r.target!.version,
          movedAt: d.movedAt ?? now,
          now,
          windowMs,
          images,
          timeoutMs: r.deviceTimeoutSeconds * 1000,
          state: state as ReportedState | undefined,
        });
        await finish(r, d, verdict, now);
      }
    }
    const counts = { ...emptyCounts(), pending: stage.end - stage.start - records.length };
    for (const d of records) {
      if (d.status === 'in-progress') counts.inProgress++;
      else counts[d.status]++;
    }
    stage.counts = counts;
    if (stage.moved && stageDone(stage)) stage.finishedAt = now;
  }
}

/** Store a device's verdict (once: only an in-progress device takes one) and count it in `d`. */
async function finish(r: Rollout, d: DeviceRecord, verdict: DeviceOutcome, now: number): Promise<void> {
  if (verdict.kind === 'in-progress') return;
  const done =
    verdict.kind === 'failed'
      ? {
          status: 'failed' as const,
          cause: verdict.cause,
          detail: verdict.detail,
          ...(verdict.reason ? { reason: verdict.reason } : {}),
          finishedAt: now,
        }
      : { status: 'succeeded' as const, finishedAt: now };
  if (await finishDevice(r.rolloutId, d.index, done)) Object.assign(d, done);
}

/**
 * Give every moved device its previous target back, over the rollout's (a device whose target someone changed
 * since is left alone, and said so). Paged over runs: each device is marked once, so a run picks up where the
 * last one stopped; the rollout is `aborted` once none is left.
 */
async function rollBack(r: Rollout, now: number): Promise<AdvanceOutcome> {
  const started = Date.now();
  let restored = 0;
  for (const stage of r.stages) {
    if (stage.startedAt === undefined) continue;
    for (const d of await deviceRecords(r.rolloutId, stage.start, stage.end)) {
      if (d.movedAt === undefined || d.rollback || d.skipReason) continue;
      if (Date.now() - started > MOVE_BUDGET_MS) return { kind: 'rolling-back', restored, done: false };
      let outcome: NonNullable<DeviceRecord['rollback']>;
      if (!d.previousTarget) outcome = 'no-previous-target';
      else if (
        await putTarget(d.deviceId, { ...d.previousTarget, updatedAt: new Date(now).toISOString() }, r.target!.version)
      ) {
        outcome = 'restored';
        await notifyDevice(d.deviceId, 'target', now);
      } else outcome = 'target-changed';
      if ((await markRolledBack(r.rolloutId, d.index, outcome)) && outcome === 'restored') restored++;
    }
  }
  if (await setStatus(r.rolloutId, 'rolling-back', 'aborted', { finishedAt: new Date(now).toISOString() })) {
    await removeActive(r.rolloutId);
    await recordEvent({ type: 'rollout.rolled_back', detail: { rolloutId: r.rolloutId, restored } }, now);
  }
  return { kind: 'rolling-back', restored, done: true };
}
