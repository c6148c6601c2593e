/** Operator-facing shapes: registration, fleet views, events, circuit, markers, dead letters. */
import * as z from 'zod';
import { CorrelationId, DeviceId, ServiceName, Timestamp } from './common.js';
import { ServiceReport } from './report.js';

export const RegisterDeviceRequest = z
  .strictObject({
    deviceId: DeviceId,
    name: z.string().min(1).max(200).optional(),
    labels: z.record(z.string().max(64), z.string().max(256)).optional(),
  })
  .meta({ id: 'RegisterDeviceRequest' });

export const RegisterDeviceResponse = z
  .object({
    deviceId: DeviceId,
    /** Shown exactly once; only a salted hash is stored. */
    token: z.string(),
    createdAt: Timestamp,
  })
  .meta({ id: 'RegisterDeviceResponse' });

export const CircuitStateName = z.enum(['closed', 'open', 'half-open']).meta({ id: 'CircuitStateName' });
export type CircuitStateName = z.infer<typeof CircuitStateName>;

export const CircuitView = z
  .object({
    state: CircuitStateName,
    consecutiveFailures: z.number().int(),
    openedAt: Timestamp.optional(),
    /** When an open circuit admits its half-open probe. */
    retryAt: Timestamp.optional(),
    openCount: z.number().int(),
  })
  .meta({ id: 'CircuitView' });

export const DeviceHealth = z.enum(['healthy', 'degraded', 'offline', 'unknown']).meta({ id: 'DeviceHealth' });

export const DeviceSummary = z
  .object({
    deviceId: DeviceId,
    name: z.string().optional(),
    health: DeviceHealth,
    lastSeenAt: Timestamp.optional(),
    agentVersion: z.string().optional(),
    circuit: CircuitView,
    /** Services with an error, as badges: name, error type, next retry. */
    errors: z.array(z.object({ service: ServiceName, type: z.string(), nextRetry: Timestamp.nullable(), retryCount: z.number().int() })),
    silencedUntil: Timestamp.optional(),
  })
  .meta({ id: 'DeviceSummary' });

export const DeviceList = z
  .object({ devices: z.array(DeviceSummary), nextToken: z.string().optional() })
  .meta({ id: 'DeviceList' });

export const FleetEvent = z
  .object({
    eventId: z.string(),
    type: z.string().meta({ description: 'e.g. command.failed, circuit.opened, circuit.closed, service.recovered, alert.raised' }),
    deviceId: DeviceId.optional(),
    service: ServiceName.optional(),
    at: Timestamp,
    correlationId: CorrelationId.optional(),
    detail: z.record(z.string(), z.unknown()).default({}),
  })
  .meta({ id: 'FleetEvent' });
export type FleetEvent = z.output<typeof FleetEvent>;

export const RecentEvents = z.object({ events: z.array(FleetEvent) }).meta({ id: 'RecentEvents' });

export const DeviceDetail = DeviceSummary.extend({
  labels: z.record(z.string(), z.string()).optional(),
  uptimeSeconds: z.number().optional(),
  clockOffsetMs: z.number().optional(),
  lastSeq: z.number().int().optional(),
  targetVersion: z.string().optional(),
  services: z.array(ServiceReport),
  markers: z.array(z.lazy(() => Marker)),
  recentEvents: z.array(FleetEvent),
}).meta({ id: 'DeviceDetail' });

export const MarkerKind = z.enum(['manual-stop', 'maintenance']);
export const Marker = z
  .object({
    deviceId: DeviceId,
    /** Absent: the whole device. */
    service: ServiceName.optional(),
    kind: MarkerKind,
    reason: z.string().max(500).optional(),
    createdAt: Timestamp,
    expiresAt: Timestamp,
    createdBy: z.string().max(128),
  })
  .meta({ id: 'Marker' });
export type Marker = z.output<typeof Marker>;

export const SetMarkerRequest = z
  .strictObject({
    service: ServiceName.optional(),
    kind: MarkerKind.default('maintenance'),
    reason: z.string().max(500).optional(),
    /** How long the marker holds; markers always expire (max 30 days). */
    durationSeconds: z.number().int().min(60).max(30 * 86400),
  })
  .meta({ id: 'SetMarkerRequest' });

export const CircuitResetResponse = z
  .object({ deviceId: DeviceId, circuit: CircuitView, correlationId: CorrelationId })
  .meta({ id: 'CircuitResetResponse' });

export const DeadLetter = z
  .object({
    messageId: z.string(),
    jobId: z.string().optional(),
    deviceId: z.string().optional(),
    reason: z.string(),
    /** Normalised reason (ids and numbers stripped) used to group similar failures. */
    pattern: z.string(),
    receiveCount: z.number().int(),
    firstFailedAt: Timestamp.optional(),
  })
  .meta({ id: 'DeadLetter' });

export const DeadLetterList = z
  .object({
    queue: z.string(),
    depth: z.number().int(),
    groups: z.array(z.object({ pattern: z.string(), count: z.number().int(), sample: DeadLetter })),
    messages: z.array(DeadLetter),
  })
  .meta({ id: 'DeadLetterList' });

export const RedriveRequest = z
  .strictObject({
    queue: z.enum(['jobs', 'alerts']).default('jobs'),
    /** Only messages whose pattern or reason contains this text. */
    filter: z.string().max(200).optional(),
    dryRun: z.boolean().default(false),
    /** Messages per second moved back to the source queue. */
    ratePerSecond: z.number().int().min(1).max(100).default(10),
    max: z.number().int().min(1).max(10000).default(1000),
  })
  .meta({ id: 'RedriveRequest' });

export const RedriveResponse = z
  .object({ dryRun: z.boolean(), matched: z.number().int(), redriven: z.number().int(), messages: z.array(DeadLetter) })
  .meta({ id: 'RedriveResponse' });

export const HealthResponse = z
  .object({ status: z.literal('ok'), version: z.string(), time: Timestamp })
  .meta({ id: 'HealthResponse' });
