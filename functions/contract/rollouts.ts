/**
 * Fleet rollouts, operator side: one target state (or one job) to many devices, a canary then waves, abort
 * criteria (docs/architecture.md "Rollouts"). The limits here mirror the domain's (domain/rollouts/*): a rollout
 * holds at most 10,000 devices and 200 stages.
 */
import * as z from 'zod/mini';
import { DeviceId, MapKey, Timestamp } from './common.js';
import { EnqueueJobRequest, InProgressTimeoutSeconds } from './jobs.js';
import { TargetState } from './target-state.js';

/** Most devices one rollout may hold (the same limit as domain/rollouts/selection.ts). */
export const MAX_ROLLOUT_DEVICE_IDS = 10_000;
/** An explicit list of 10,000 device ids is about 650 KB of JSON; the target adds at most 64 KB. */
export const MAX_CREATE_ROLLOUT_BYTES = 1024 * 1024;

export const RolloutId = z
  .string()
  .check(z.regex(/^ro_[0-9A-Za-z]{24}$/, 'a rollout id (ro_...)'))
  .register(z.globalRegistry, { id: 'RolloutId' });

export const RolloutStatusName = z
  .enum(['active', 'paused', 'rolling-back', 'aborted', 'completed'])
  .register(z.globalRegistry, { id: 'RolloutStatusName' });

const Percent = z.number().check(z.gt(0), z.maximum(100));

export const CanarySpec = z
  .strictObject({
    /** This many devices first (at least one). */
    count: z.optional(z.int().check(z.minimum(1), z.maximum(MAX_ROLLOUT_DEVICE_IDS))),
    /** Or this share of the selected devices, rounded up (at least one device). */
    percent: z.optional(Percent),
  })
  .check(
    z.refine((c) => (c.count === undefined) !== (c.percent === undefined), {
      message: 'give exactly one of count and percent',
    }),
  )
  .register(z.globalRegistry, { id: 'RolloutCanary' });

export const WaveSpec = z
  .strictObject({
    /** Devices a wave moves; one wave a minute at most, each after the previous stage finished. */
    perMinute: z.int().check(z.minimum(1), z.maximum(MAX_ROLLOUT_DEVICE_IDS)),
    /** Each successful wave multiplies the next wave's size by this (1 = constant rate). */
    factor: z._default(z.number().check(z.minimum(1), z.maximum(10)), 1),
  })
  .register(z.globalRegistry, { id: 'RolloutWaves' });

export const AbortCriteria = z
  .strictObject({
    /** Abort when failed / finished devices reaches this percentage (judged per stage and over the rollout). */
    failurePercent: z.optional(Percent),
    /** Abort when this many devices failed (per stage and over the rollout). */
    failureCount: z.optional(z.int().check(z.minimum(1), z.maximum(MAX_ROLLOUT_DEVICE_IDS))),
    /** Judge the percentage only once this many devices finished (a smaller stage: once all of it finished). */
    minFinished: z._default(z.int().check(z.minimum(1), z.maximum(MAX_ROLLOUT_DEVICE_IDS)), 1),
  })
  .check(
    z.refine((c) => c.failurePercent !== undefined || c.failureCount !== undefined, {
      message: 'give failurePercent and/or failureCount',
    }),
  )
  .register(z.globalRegistry, { id: 'RolloutAbortCriteria' });

export const LabelSelector = z
  .record(MapKey, z.string().check(z.maxLength(256)))
  .check(z.refine((s) => Object.keys(s).length >= 1 && Object.keys(s).length <= 20, 'between 1 and 20 labels'))
  .register(z.globalRegistry, {
    id: 'LabelSelector',
    description: 'Devices whose labels hold every pair, e.g. {"site":"north","role":"pump"}.',
  });

export const CreateRolloutRequest = z
  .strictObject({
    /** Devices whose labels match every pair; frozen at creation (devices registered later are not included). */
    selector: z.optional(LabelSelector),
    /** Or an explicit list of registered devices. */
    deviceIds: z.optional(z.array(DeviceId).check(z.minLength(1), z.maxLength(MAX_ROLLOUT_DEVICE_IDS))),
    /** What every device gets: this target state (each device's agent puts it on trial for its health window)... */
    target: z.optional(TargetState),
    /** ...or this job, enqueued for each device as an operator enqueues it; exactly one of target and job. */
    job: z.optional(EnqueueJobRequest),
    canary: CanarySpec,
    waves: WaveSpec,
    abortCriteria: AbortCriteria,
    /**
     * On abort: give moved devices their previous target back (`rollback`, the default for a target), or leave
     * them (`leave`; a job cannot be taken back, so a job rollout only takes `leave`, its default).
     */
    onAbort: z.optional(z.enum(['rollback', 'leave'])),
    /**
     * A moved device without a verdict this long after the move failed (default: its health window, or its job's
     * in-progress timeout, + 10 min).
     */
    deviceTimeoutSeconds: z.optional(z.int().check(z.minimum(60), z.maximum(7 * 86400))),
    description: z.optional(z.string().check(z.minLength(1), z.maxLength(500))),
  })
  .check(
    z.refine((r) => (r.selector === undefined) !== (r.deviceIds === undefined), {
      message: 'give exactly one of selector and deviceIds',
    }),
    z.refine((r) => (r.target === undefined) !== (r.job === undefined), {
      message: 'give exactly one of target and job',
      path: ['target'],
    }),
  )
  .register(z.globalRegistry, { id: 'CreateRolloutRequest' });

export const AbortRolloutRequest = z
  .strictObject({ reason: z.optional(z.string().check(z.minLength(1), z.maxLength(500))) })
  .register(z.globalRegistry, { id: 'AbortRolloutRequest' });

export const RolloutCounts = z
  .object({
    /** Not reached yet (their stage has not started, or is still moving devices). */
    pending: z.int(),
    /** Moved, no verdict yet. */
    inProgress: z.int(),
    succeeded: z.int(),
    failed: z.int(),
    /** Left out and never touched: an open circuit, a maintenance marker, or a target changed meanwhile. */
    skipped: z.int(),
  })
  .register(z.globalRegistry, { id: 'RolloutCounts' });

/** How close the abort criteria are for one scope (a stage, or the rollout as a whole). */
export const CriteriaCloseness = z
  .object({
    failurePercent: z.optional(
      z.object({
        value: z.number(),
        limit: z.number(),
        /** False until enough devices finished for the percentage to count. */
        judged: z.boolean(),
      }),
    ),
    failureCount: z.optional(z.object({ value: z.int(), limit: z.int() })),
  })
  .register(z.globalRegistry, { id: 'RolloutCriteriaCloseness' });

export const RolloutStageView = z
  .object({
    name: z.string(),
    devices: z.int(),
    counts: RolloutCounts,
    startedAt: z.optional(Timestamp),
    finishedAt: z.optional(Timestamp),
    criteria: CriteriaCloseness,
  })
  .register(z.globalRegistry, { id: 'RolloutStage' });

export const RolloutAbortView = z
  .object({
    by: z.enum(['operator', 'criterion']),
    at: Timestamp,
    criterion: z.optional(z.string()),
    /** Where the criterion was met: a stage's name or `rollout`. */
    scope: z.optional(z.string()),
    detail: z.string(),
    failures: z.optional(
      z.array(
        z.object({
          cause: z.string(),
          count: z.int(),
          sample: z.array(z.object({ deviceId: z.string(), detail: z.optional(z.string()) })),
        }),
      ),
    ),
  })
  .register(z.globalRegistry, { id: 'RolloutAbort' });

export const RolloutView = z
  .object({
    rolloutId: RolloutId,
    status: RolloutStatusName,
    createdAt: Timestamp,
    createdBy: z.string(),
    description: z.optional(z.string()),
    selector: z.optional(z.record(z.string(), z.string())),
    deviceCount: z.int(),
    /** The target's version; a job rollout: `job:<type>`. */
    targetVersion: z.string(),
    /** A job rollout's job (absent for a target rollout). */
    job: z.optional(
      z.object({
        type: z.string(),
        params: z.record(z.string(), z.unknown()),
        inProgressTimeoutSeconds: z.optional(InProgressTimeoutSeconds),
      }),
    ),
    canary: z.object({ count: z.optional(z.int()), percent: z.optional(z.number()) }),
    waves: z.object({ perMinute: z.int(), factor: z.number() }),
    abortCriteria: z.object({
      failurePercent: z.optional(z.number()),
      failureCount: z.optional(z.int()),
      minFinished: z.int(),
    }),
    onAbort: z.enum(['rollback', 'leave']),
    deviceTimeoutSeconds: z.int(),
    stages: z.array(RolloutStageView),
    totals: RolloutCounts,
    /** The abort criteria over the whole rollout (each stage carries its own). */
    criteria: CriteriaCloseness,
    abort: z.optional(RolloutAbortView),
    finishedAt: z.optional(Timestamp),
  })
  .register(z.globalRegistry, { id: 'Rollout' });

export const RolloutList = z
  .object({ rollouts: z.array(RolloutView), nextToken: z.optional(z.string()) })
  .register(z.globalRegistry, { id: 'RolloutList' });
