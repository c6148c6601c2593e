/**
 * Device report: heartbeat plus state, full or delta. Error shape follows the
 * "Example Error State" of the Kubernetes-style agent (seed 001).
 */
import * as z from 'zod';
import { DeviceId, ImageRef, ServiceName, Timestamp } from './common.js';

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
  .meta({ id: 'ServiceErrorType' });
export type ServiceErrorType = z.infer<typeof ServiceErrorType>;

export const ServiceError = z
  .strictObject({
    type: ServiceErrorType,
    message: z.string().max(2048),
    timestamp: Timestamp,
    retryCount: z.number().int().min(0),
    /** null once the agent gave up fast retries (quarantine keeps a slow retry: see `quarantined`). */
    nextRetry: Timestamp.nullable(),
    /** Permanent errors (image not found, bad credentials, invalid spec) will not fix themselves. */
    permanent: z.boolean().default(false),
    /** After the fast retries are spent the service is retried slowly (every 30 min), not abandoned. */
    quarantined: z.boolean().default(false),
    /** What the agent already tried, newest last (restart, recreate, re-pull...). */
    attempted: z.array(z.string().max(200)).max(20).default([]),
  })
  .meta({ id: 'ServiceError' });
export type ServiceError = z.output<typeof ServiceError>;

export const ServiceStatus = z
  .enum(['running', 'starting', 'stopped', 'exited', 'restarting', 'error', 'quarantined', 'manually-stopped', 'unknown'])
  .meta({ id: 'ServiceStatus' });
export type ServiceStatus = z.infer<typeof ServiceStatus>;

export const HealthCheckResult = z
  .strictObject({
    healthy: z.boolean(),
    kind: z.enum(['http', 'tcp', 'process', 'custom']),
    checkedAt: Timestamp,
    message: z.string().max(1024).optional(),
    durationMs: z.number().min(0).optional(),
    consecutiveFailures: z.number().int().min(0).default(0),
  })
  .meta({ id: 'HealthCheckResult' });
export type HealthCheckResult = z.output<typeof HealthCheckResult>;

export const ServiceReport = z
  .strictObject({
    name: ServiceName,
    image: ImageRef,
    status: ServiceStatus,
    containerId: z.string().max(128).optional(),
    restartCount: z.number().int().min(0).default(0),
    /** Restarts within the agent's rate-limit window (default 5 min): the crash-loop signal. */
    recentRestarts: z.number().int().min(0).default(0),
    error: ServiceError.nullable().default(null),
    lastHealthCheck: HealthCheckResult.nullable().default(null),
    startedAt: Timestamp.optional(),
  })
  .meta({ id: 'ServiceReport' });
export type ServiceReport = z.output<typeof ServiceReport>;

export const DeviceReport = z
  .strictObject({
    deviceId: DeviceId,
    /** Strictly increasing per device; the server stores each sequence at most once. */
    seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    kind: z.enum(['full', 'delta']),
    agentVersion: z.string().min(1).max(64),
    uptimeSeconds: z.number().min(0),
    sentAt: Timestamp,
    /** Device clock minus server clock, as the agent last measured it (ms). */
    clockOffsetMs: z.number().optional(),
    /** Version of the target state the agent is converging to / rolled back to. */
    targetVersion: z.string().max(128).optional(),
    /** Set when the agent rolled back a target that failed its health window. */
    rolledBackFrom: z.string().max(128).optional(),
    /** Full: every service. Delta: only the services that changed. */
    services: z.array(ServiceReport).max(64),
    /** Delta only: services no longer present on the device. */
    removedServices: z.array(ServiceName).max(64).default([]),
    /** Reports the agent had to drop from its offline buffer (bounded) since the last delivered one. */
    droppedReports: z.number().int().min(0).default(0),
  })
  .superRefine((r, ctx) => {
    if (r.kind === 'full' && r.removedServices.length > 0)
      ctx.addIssue({ code: 'custom', path: ['removedServices'], message: 'only a delta report removes services' });
    const names = new Set<string>();
    for (const [i, s] of r.services.entries()) {
      if (names.has(s.name)) ctx.addIssue({ code: 'custom', path: ['services', i, 'name'], message: `duplicate service '${s.name}'` });
      names.add(s.name);
    }
  })
  .meta({ id: 'DeviceReport' });
export type DeviceReport = z.output<typeof DeviceReport>;
export type DeviceReportInput = z.input<typeof DeviceReport>;

export const ReportAck = z
  .object({
    /** applied: merged into the current state; duplicate: this exact sequence was already stored. */
    status: z.enum(['applied', 'duplicate']),
    seq: z.number().int(),
    lastSeq: z.number().int(),
    /** Lets the agent measure its clock offset. */
    serverTime: Timestamp,
  })
  .meta({ id: 'ReportAck' });
export type ReportAck = z.output<typeof ReportAck>;

/** Largest accepted report body. Larger bodies answer 413 and write nothing. */
export const MAX_REPORT_BYTES = 64 * 1024;
