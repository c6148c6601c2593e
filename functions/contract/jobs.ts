/**
 * Jobs (commands to devices). Lifecycle and statuses follow AWS IoT Jobs.
 */
import * as z from 'zod/mini';
import { CorrelationId, DeviceId, ImageRef, JobId, MapKey, ServiceName, storableNumber, Timestamp } from './common.js';
import { TargetState } from './target-state.js';

export const JobStatus = z
  .enum(['QUEUED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'CANCELED'])
  .register(z.globalRegistry, { id: 'JobStatus' });
export type JobStatus = z.infer<typeof JobStatus>;
export const TERMINAL_JOB_STATUSES: readonly JobStatus[] = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'CANCELED'];

/** The commands a device executes, one schema per job type. */
const JOB_COMMANDS = [
  z.strictObject({
    type: z.literal('restart-service'),
    params: z.strictObject({ service: ServiceName, reason: z.optional(z.string().check(z.maxLength(200))) }),
  }),
  z.strictObject({ type: z.literal('pull-image'), params: z.strictObject({ image: ImageRef }) }),
  z.strictObject({ type: z.literal('set-target-state'), params: z.strictObject({ target: TargetState }) }),
  z.strictObject({ type: z.literal('run-health-check'), params: z.strictObject({ service: z.optional(ServiceName) }) }),
  /** Resets a service's backoff so it is retried at once (kubelet/balena users ask for this). */
  z.strictObject({ type: z.literal('retry-now'), params: z.strictObject({ service: z.optional(ServiceName) }) }),
] as const;

export const JobCommand = z.discriminatedUnion('type', JOB_COMMANDS).register(z.globalRegistry, { id: 'JobCommand' });
export type JobCommand = z.output<typeof JobCommand>;
export type JobType = JobCommand['type'];
export const JOB_TYPES = JOB_COMMANDS.map((c) => c.shape.type.def.values[0]) as JobType[];

/**
 * Bounds of an operator-chosen in-progress timeout (like AWS IoT Jobs' `timeoutConfig.inProgressTimeoutInMinutes`).
 * At least 10 s (the sweeper runs every minute in AWS, so a short timeout ends within about a minute of its
 * deadline), at most 24 h.
 */
export const IN_PROGRESS_TIMEOUT_MIN_SECONDS = 10;
export const IN_PROGRESS_TIMEOUT_MAX_SECONDS = 86_400;
export const InProgressTimeoutSeconds = z
  .int()
  .check(z.minimum(IN_PROGRESS_TIMEOUT_MIN_SECONDS), z.maximum(IN_PROGRESS_TIMEOUT_MAX_SECONDS))
  .register(z.globalRegistry, {
    id: 'InProgressTimeoutSeconds',
    description:
      "How long each attempt of the job may stay IN_PROGRESS before the timeout sweeper marks it TIMED_OUT (and its retry policy applies). Absent: the job type's default (300 s; pull-image and set-target-state 900 s).",
  });

/** Job settings an operator may add to a command when enqueuing it; they apply to every attempt. */
const ENQUEUE_SETTINGS = { inProgressTimeoutSeconds: z.optional(InProgressTimeoutSeconds) };
type WithEnqueueSettings<T extends readonly z.ZodMiniObject[]> = {
  -readonly [K in keyof T]: T[K] extends z.ZodMiniObject<infer S, infer C>
    ? z.ZodMiniObject<z.core.util.Extend<S, typeof ENQUEUE_SETTINGS>, C>
    : never;
};

/** Operator → cloud: the body of an enqueue request, a command plus its job settings (strict, like the command). */
export const EnqueueJobRequest = z
  .discriminatedUnion(
    'type',
    JOB_COMMANDS.map((c) => z.extend(c, ENQUEUE_SETTINGS)) as unknown as WithEnqueueSettings<typeof JOB_COMMANDS>,
  )
  .register(z.globalRegistry, { id: 'EnqueueJobRequest' });
export type EnqueueJobRequest = z.output<typeof EnqueueJobRequest>;

export const JobAttempt = z
  .object({
    attempt: z.int().check(z.minimum(1)),
    status: JobStatus,
    at: Timestamp,
    by: z.string().check(z.maxLength(128)).register(z.globalRegistry, {
      description: 'Who made the transition: device id, operator, dispatcher, sweeper.',
    }),
    error: z.optional(z.string().check(z.maxLength(2048))),
  })
  .register(z.globalRegistry, { id: 'JobAttempt' });
export type JobAttempt = z.output<typeof JobAttempt>;

export const Job = z
  .object({
    jobId: JobId,
    deviceId: DeviceId,
    type: z.string(),
    params: z.record(z.string(), z.unknown()),
    status: JobStatus,
    /** Optimistic-concurrency version; every transition increments it. */
    version: z.int().check(z.minimum(1)),
    attempt: z.int().check(z.minimum(1)),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    correlationId: CorrelationId,
    statusDetails: z.optional(z.record(z.string(), z.unknown())),
    /** Chosen at enqueue; absent: the job type's default. */
    inProgressTimeoutSeconds: z.optional(InProgressTimeoutSeconds),
    history: z.array(JobAttempt),
  })
  .register(z.globalRegistry, { id: 'Job' });
export type Job = z.output<typeof Job>;

export const PendingJobs = z
  .object({
    jobs: z.array(Job),
    /** Jobs left out because they are stored in a shape that cannot be read (the others are still served). */
    unreadable: z.optional(z.array(z.object({ id: z.string(), item: z.string(), reason: z.string() }))),
  })
  .register(z.globalRegistry, { id: 'PendingJobs' });

/** Device → cloud: move a job execution on (IoT Jobs UpdateJobExecution). */
export const JobExecutionUpdate = z
  .strictObject({
    status: z.enum(['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'REJECTED']),
    expectedVersion: z.int().check(z.minimum(1), z.maximum(2_147_483_647)),
    statusDetails: z.optional(
      z
        .record(
          MapKey,
          z.union([
            z.string().check(z.maxLength(1024)),
            storableNumber(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
            z.boolean(),
          ]),
        )
        .check(z.refine((d) => Object.keys(d).length <= 20, 'at most 20 details')),
    ),
  })
  .register(z.globalRegistry, { id: 'JobExecutionUpdate' });
export type JobExecutionUpdate = z.output<typeof JobExecutionUpdate>;
