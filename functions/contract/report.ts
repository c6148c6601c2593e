/**
 * Device report: heartbeat plus state, full or delta. Error shape follows the
 * "Example Error State" of the Kubernetes-style agent.
 */
import * as z from 'zod/mini';
import { Count, DeviceId, ImageRef, ServiceName, storableNumber, Timestamp } from './common.js';

/** A century: the widest time span a device measurement (uptime, clock offset) can sensibly have. */
const CENTURY_SECONDS = 100 * 365 * 86_400;

export const ServiceErrorType = z
  .enum([
    'ImagePullBackOff',
    'ErrImagePull',
    'StartFailure',
    'CrashLoopBackOff',
    'HealthCheckFailed',
    'DiskFull',
    'InvalidSpec',
    'RecoveryFailed',
  ])
  .register(z.globalRegistry, { id: 'ServiceErrorType' });
export type ServiceErrorType = z.infer<typeof ServiceErrorType>;

export const ServiceError = z
  .strictObject({
    type: ServiceErrorType,
    message: z.string().check(z.maxLength(2048)),
    timestamp: Timestamp,
    retryCount: Count(),
    /** null once the agent gave up fast retries (quarantine keeps a slow retry: see `quarantined`). */
    nextRetry: z.nullable(Timestamp),
    /** Permanent errors (image not found, bad credentials, invalid spec) will not fix themselves. */
    permanent: z._default(z.boolean(), false),
    /** After the fast retries are spent the service is retried slowly (every 30 min), not abandoned. */
    quarantined: z._default(z.boolean(), false),
    /** What the agent already tried, newest last (restart, recreate, re-pull...). */
    attempted: z._default(z.array(z.string().check(z.maxLength(200))).check(z.maxLength(20)), []),
  })
  .register(z.globalRegistry, { id: 'ServiceError' });
export type ServiceError = z.output<typeof ServiceError>;

export const ServiceStatus = z
  .enum([
    'running',
    'starting',
    'stopped',
    'exited',
    'restarting',
    'error',
    'quarantined',
    'manually-stopped',
    'unknown',
  ])
  .register(z.globalRegistry, { id: 'ServiceStatus' });
export type ServiceStatus = z.infer<typeof ServiceStatus>;

export const HealthCheckResult = z
  .strictObject({
    healthy: z.boolean(),
    kind: z.enum(['http', 'tcp', 'process', 'custom']),
    checkedAt: Timestamp,
    message: z.optional(z.string().check(z.maxLength(1024))),
    /** A check runs at most its timeout (≤ 300 s); a day is the sane ceiling. */
    durationMs: z.optional(storableNumber(0, 86_400_000)),
    consecutiveFailures: z._default(Count(), 0),
  })
  .register(z.globalRegistry, { id: 'HealthCheckResult' });
export type HealthCheckResult = z.output<typeof HealthCheckResult>;

export const ServiceReport = z
  .strictObject({
    name: ServiceName,
    image: ImageRef,
    status: ServiceStatus,
    containerId: z.optional(z.string().check(z.maxLength(128))),
    restartCount: z._default(Count(), 0),
    /** Restarts within the agent's rate-limit window (default 5 min): the crash-loop signal. */
    recentRestarts: z._default(Count(), 0),
    error: z._default(z.nullable(ServiceError), null),
    lastHealthCheck: z._default(z.nullable(HealthCheckResult), null),
    startedAt: z.optional(Timestamp),
  })
  .register(z.globalRegistry, { id: 'ServiceReport' });
export type ServiceReport = z.output<typeof ServiceReport>;

/** What the agent itself tries on an unhealthy service, lightest first (agent/src/recovery/policy.ts). */
export const AGENT_RECOVERY_STRATEGIES = ['restart', 'recreate', 'repull'] as const;
export const AgentRecoveryStrategy = z.enum(AGENT_RECOVERY_STRATEGIES);

export const AgentRecoveryCount = z.strictObject({
  strategy: AgentRecoveryStrategy,
  /** The re-check after the action found the service healthy. */
  succeeded: Count(),
  /** The action could not be done, or the service was still unhealthy after it. */
  failed: Count(),
});

/**
 * The agent's recovery attempts, cumulative since `epoch`. Cumulative (not counted since the previous report) so a
 * report that is lost, resent or refused as a duplicate can neither lose nor double an attempt: the cloud counts
 * the difference to what it stored. A new epoch (the agent's state directory was reset) counts from zero again.
 */
export const AgentRecoveries = z
  .strictObject({
    epoch: z.string().check(z.minLength(1), z.maxLength(64)),
    counts: z.array(AgentRecoveryCount).check(z.maxLength(AGENT_RECOVERY_STRATEGIES.length)),
  })
  .register(z.globalRegistry, { id: 'AgentRecoveries' });
export type AgentRecoveries = z.output<typeof AgentRecoveries>;

export const DeviceReport = z
  .strictObject({
    deviceId: DeviceId,
    /** Strictly increasing per device; the server stores each sequence at most once. */
    seq: z.int().check(z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER)),
    kind: z.enum(['full', 'delta']),
    agentVersion: z.string().check(z.minLength(1), z.maxLength(64)),
    uptimeSeconds: storableNumber(0, CENTURY_SECONDS),
    sentAt: Timestamp,
    /** Device clock minus server clock, as the agent last measured it (ms). */
    clockOffsetMs: z.optional(storableNumber(-CENTURY_SECONDS * 1000, CENTURY_SECONDS * 1000)),
    /** Version of the target state the agent is converging to / rolled back to. */
    targetVersion: z.optional(z.string().check(z.maxLength(128))),
    /** Set when the agent rolled back a target that failed its health window. */
    rolledBackFrom: z.optional(z.string().check(z.maxLength(128))),
    /** Full: every service. Delta: only the services that changed. */
    services: z.array(ServiceReport).check(z.maxLength(64)),
    /** Delta only: services no longer present on the device. */
    removedServices: z._default(z.array(ServiceName).check(z.maxLength(64)), []),
    /** Reports the agent had to drop from its offline buffer (bounded) since the last delivered one. */
    droppedReports: z._default(Count(), 0),
    /** The agent's recovery attempts so far (agents before this field send none; absent in a delta: unchanged). */
    recoveries: z.optional(AgentRecoveries),
  })
  .check(
    z.superRefine((r, ctx) => {
      if (r.kind === 'full' && r.removedServices.length > 0)
        ctx.addIssue({ code: 'custom', path: ['removedServices'], message: 'only a delta report removes services' });
      const strategies = new Set<string>();
      for (const [i, c] of (r.recoveries?.counts ?? []).entries()) {
        if (strategies.has(c.strategy))
          ctx.addIssue({
            code: 'custom',
            path: ['recoveries', 'counts', i, 'strategy'],
            message: `duplicate strategy '${c.strategy}'`,
          });
        strategies.add(c.strategy);
      }
      const names = new Set<string>();
      for (const [i, s] of r.services.entries()) {
        if (names.has(s.name))
          ctx.addIssue({ code: 'custom', path: ['services', i, 'name'], message: `duplicate service '${s.name}'` });
        names.add(s.name);
      }
    }),
  )
  .register(z.globalRegistry, {
    id: 'DeviceReport',
    description:
      'Rules across fields (checked by the server, 400 validation_failed): a full report has no removedServices (only a delta removes services); service names are unique within `services`; strategies are unique within `recoveries.counts`.',
  });
export type DeviceReport = z.output<typeof DeviceReport>;
export type DeviceReportInput = z.input<typeof DeviceReport>;

export const ReportAck = z
  .object({
    /** applied: merged into the current state; duplicate: this exact sequence was already stored. */
    status: z.enum(['applied', 'duplicate']),
    seq: z.int(),
    lastSeq: z.int(),
    /** Lets the agent measure its clock offset. */
    serverTime: Timestamp,
  })
  .register(z.globalRegistry, { id: 'ReportAck' });
export type ReportAck = z.output<typeof ReportAck>;

/** Largest accepted report body. Larger bodies answer 413 and write nothing. */
export const MAX_REPORT_BYTES = 64 * 1024;
