/** Operator-facing shapes: registration, fleet views, events, circuit, markers, dead letters. */
import * as z from 'zod/mini';
import { CorrelationId, DeviceId, MapKey, ServiceName, Timestamp } from './common.js';
import { ServiceReport } from './report.js';
import { TargetStateDocument } from './target-state.js';

export const RegisterDeviceRequest = z
  .strictObject({
    deviceId: DeviceId,
    name: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
    labels: z.optional(
      z
        .record(MapKey, z.string().check(z.maxLength(256)))
        .check(z.refine((l) => Object.keys(l).length <= 50, 'at most 50 labels')),
    ),
  })
  .register(z.globalRegistry, { id: 'RegisterDeviceRequest' });

export const RegisterDeviceResponse = z
  .object({
    deviceId: DeviceId,
    /** Shown exactly once; only a salted hash is stored. */
    token: z.string(),
    createdAt: Timestamp,
  })
  .register(z.globalRegistry, { id: 'RegisterDeviceResponse' });

export const CircuitStateName = z
  .enum(['closed', 'open', 'half-open'])
  .register(z.globalRegistry, { id: 'CircuitStateName' });
export type CircuitStateName = z.infer<typeof CircuitStateName>;

export const CircuitView = z
  .object({
    state: CircuitStateName,
    consecutiveFailures: z.int(),
    openedAt: z.optional(Timestamp),
    /** When an open circuit admits its half-open probe. */
    retryAt: z.optional(Timestamp),
    openCount: z.int(),
  })
  .register(z.globalRegistry, { id: 'CircuitView' });

export const DeviceHealth = z
  .enum(['healthy', 'degraded', 'offline', 'unknown'])
  .register(z.globalRegistry, { id: 'DeviceHealth' });

export const DeviceSummary = z
  .object({
    deviceId: DeviceId,
    name: z.optional(z.string()),
    health: DeviceHealth,
    lastSeenAt: z.optional(Timestamp),
    agentVersion: z.optional(z.string()),
    circuit: CircuitView,
    /** Services with an error, as badges: name, error type, next retry. */
    errors: z.array(
      z.object({ service: ServiceName, type: z.string(), nextRetry: z.nullable(Timestamp), retryCount: z.int() }),
    ),
    silencedUntil: z.optional(Timestamp),
  })
  .register(z.globalRegistry, { id: 'DeviceSummary' });

/** A stored item the API could not read (skipped from a listing, so one bad item does not take the rest down). */
export const UnreadableItem = z
  .object({ id: z.string(), item: z.string(), reason: z.string() })
  .register(z.globalRegistry, {
    id: 'UnreadableItem',
    description:
      'An item left out of (or partly out of) this answer because it is stored in a shape that cannot be read; see docs/runbook.md#unreadable-items.',
  });

export const DeviceList = z
  .object({
    devices: z.array(DeviceSummary),
    nextToken: z.optional(z.string()),
    /** Present when some items of this page could not be read: the devices are listed without them (or left out when their META is unreadable). */
    unreadable: z.optional(z.array(UnreadableItem)),
  })
  .register(z.globalRegistry, { id: 'DeviceList' });

export const FleetEvent = z
  .object({
    eventId: z.string(),
    type: z.string().register(z.globalRegistry, {
      description: 'e.g. command.failed, circuit.opened, circuit.closed, service.recovered, alert.raised',
    }),
    deviceId: z.optional(DeviceId),
    service: z.optional(ServiceName),
    at: Timestamp,
    correlationId: z.optional(CorrelationId),
    detail: z._default(z.record(z.string(), z.unknown()), {}),
  })
  .register(z.globalRegistry, { id: 'FleetEvent' });
export type FleetEvent = z.output<typeof FleetEvent>;

export const RecentEvents = z
  .object({ events: z.array(FleetEvent) })
  .register(z.globalRegistry, { id: 'RecentEvents' });

export const ErrorHistoryEntry = z
  .object({
    service: ServiceName,
    /** raised: an error appeared; changed: its type changed; cleared: it is gone (recovered, or the service removed). */
    change: z.enum(['raised', 'changed', 'cleared']),
    type: z.string(),
    previousType: z.optional(z.string()),
    message: z.string(),
    /** When the error began, as the device reported it. */
    since: Timestamp,
    /** When the cloud saw it clear. */
    clearedAt: z.optional(Timestamp),
    /** When the change was recorded. */
    at: Timestamp,
  })
  .register(z.globalRegistry, { id: 'ErrorHistoryEntry' });
export type ErrorHistoryEntry = z.output<typeof ErrorHistoryEntry>;

export const DeviceDetail = z
  .extend(DeviceSummary, {
    labels: z.optional(z.record(z.string(), z.string())),
    uptimeSeconds: z.optional(z.number()),
    clockOffsetMs: z.optional(z.number()),
    lastSeq: z.optional(z.int()),
    targetVersion: z.optional(z.string()),
    /** What the device should run, as set by operators (its `version` is the ETag for If-Match); absent: never set. */
    target: z.optional(TargetStateDocument),
    services: z.array(ServiceReport),
    markers: z.array(z.lazy(() => Marker)),
    recentEvents: z.array(FleetEvent),
    /** The last error changes of each service (newest first, at most 5 a service, 14 days at most). */
    errorHistory: z.optional(z.array(ErrorHistoryEntry)),
    /**
     * Present when some of the device's items could not be read: the detail is shown without them. (When its
     * META cannot be read there is no device to show: the answer is a 500 `unreadable_item` naming it.)
     */
    unreadable: z.optional(z.array(UnreadableItem)),
  })
  .register(z.globalRegistry, { id: 'DeviceDetail' });

export const MarkerKind = z.enum(['manual-stop', 'maintenance']);
export const Marker = z
  .object({
    deviceId: DeviceId,
    /** Absent: the whole device. */
    service: z.optional(ServiceName),
    kind: MarkerKind,
    reason: z.optional(z.string().check(z.maxLength(500))),
    createdAt: Timestamp,
    expiresAt: Timestamp,
    createdBy: z.string().check(z.maxLength(128)),
  })
  .register(z.globalRegistry, { id: 'Marker' });
export type Marker = z.output<typeof Marker>;

export const SetMarkerRequest = z
  .strictObject({
    service: z.optional(ServiceName),
    kind: z._default(MarkerKind, 'maintenance'),
    reason: z.optional(z.string().check(z.maxLength(500))),
    /** How long the marker holds; markers always expire (max 30 days). */
    durationSeconds: z.int().check(z.minimum(60), z.maximum(30 * 86400)),
  })
  .register(z.globalRegistry, { id: 'SetMarkerRequest' });

export const SilenceMatcher = z
  .strictObject({
    name: z.enum(['deviceId', 'service', 'alertName']),
    /** `=` equal, `!=` not equal, `=~` / `!~` regex (anchored at both ends, as in Alertmanager). */
    op: z._default(z.enum(['=', '!=', '=~', '!~']), '='),
    value: z.string().check(z.maxLength(200)),
  })
  .register(z.globalRegistry, { id: 'SilenceMatcher' });

export const CreateSilenceRequest = z
  .strictObject({
    /** Every matcher must match for an alert to be silenced; at least one must not match an empty value. */
    matchers: z.array(SilenceMatcher).check(z.minLength(1), z.maxLength(10)),
    /** How long the silence holds from now (or from startsAt); silences always end (max 30 days). */
    durationSeconds: z.int().check(z.minimum(60), z.maximum(30 * 86400)),
    /** Start later (a planned window); default now. */
    startsAt: z.optional(Timestamp),
    comment: z.string().check(z.minLength(1), z.maxLength(500)),
  })
  .register(z.globalRegistry, { id: 'CreateSilenceRequest' });

export const SilenceView = z
  .object({
    silenceId: z.string(),
    matchers: z.array(SilenceMatcher),
    startsAt: Timestamp,
    endsAt: Timestamp,
    comment: z.string(),
    createdBy: z.string(),
    createdAt: Timestamp,
    state: z.enum(['active', 'pending', 'expired']),
  })
  .register(z.globalRegistry, { id: 'Silence' });

export const SilenceList = z
  .object({ silences: z.array(SilenceView) })
  .register(z.globalRegistry, { id: 'SilenceList' });

export const CircuitResetResponse = z
  .object({ deviceId: DeviceId, circuit: CircuitView, correlationId: CorrelationId })
  .register(z.globalRegistry, { id: 'CircuitResetResponse' });

/** Reset every circuit that is not closed. Without `dryRun`, `confirm: true` is required (nothing is reset otherwise). */
export const ResetAllCircuitsRequest = z
  .strictObject({
    dryRun: z._default(z.boolean(), false),
    confirm: z.optional(z.boolean()),
  })
  .register(z.globalRegistry, { id: 'ResetAllCircuitsRequest' });

export const ResetAllCircuitsResponse = z
  .object({
    dryRun: z.boolean(),
    /** The circuits found not closed (on a dry run: what a real call would reset). */
    found: z.array(z.object({ deviceId: DeviceId, state: CircuitStateName, consecutiveFailures: z.int() })),
    /** Devices whose circuit this call closed (each with its own audit event). */
    reset: z.array(DeviceId),
    /** Found but left for the next call (time budget). */
    remaining: z.int(),
    /** More circuits may be open: call again. */
    more: z.boolean(),
    correlationId: CorrelationId,
  })
  .register(z.globalRegistry, { id: 'ResetAllCircuitsResponse' });

export const DeadLetterJobRequest = z
  .strictObject({ reason: z.string().check(z.trim(), z.minLength(1), z.maxLength(500)) })
  .register(z.globalRegistry, { id: 'DeadLetterJobRequest' });

export const DeadLetter = z
  .object({
    messageId: z.string(),
    jobId: z.optional(z.string()),
    deviceId: z.optional(z.string()),
    reason: z.string(),
    /** Normalised reason (ids and numbers stripped) used to group similar failures. */
    pattern: z.string(),
    receiveCount: z.int(),
    firstFailedAt: z.optional(Timestamp),
  })
  .register(z.globalRegistry, { id: 'DeadLetter' });

export const DeadLetterList = z
  .object({
    queue: z.string(),
    depth: z.int(),
    groups: z.array(z.object({ pattern: z.string(), count: z.int(), sample: DeadLetter })),
    messages: z.array(DeadLetter),
  })
  .register(z.globalRegistry, { id: 'DeadLetterList' });

export const RedriveRequest = z
  .strictObject({
    queue: z._default(z.enum(['jobs', 'alerts']), 'jobs'),
    /** Only messages whose pattern or reason contains this text. */
    filter: z.optional(z.string().check(z.maxLength(200))),
    dryRun: z._default(z.boolean(), false),
    /** Messages per second moved back to the source queue. */
    ratePerSecond: z._default(z.int().check(z.minimum(1), z.maximum(100)), 10),
    max: z._default(z.int().check(z.minimum(1), z.maximum(10000)), 1000),
  })
  .register(z.globalRegistry, { id: 'RedriveRequest' });

export const RedriveResponse = z
  .object({ dryRun: z.boolean(), matched: z.int(), redriven: z.int(), messages: z.array(DeadLetter) })
  .register(z.globalRegistry, { id: 'RedriveResponse' });

export const ResourceCheck = z
  .object({
    /** Logical name (fleet, jobs, jobs-dlq...), never a physical name or ARN. */
    resource: z.string(),
    kind: z.enum(['table', 'queue']),
    ok: z.boolean(),
    /** The error's name when not ok: ResourceNotFoundException, AccessDeniedException, TimeoutError... */
    error: z.optional(z.string()),
  })
  .register(z.globalRegistry, { id: 'ResourceCheck' });

export const HealthResponse = z
  .object({
    /** `failing` (with status 503) only from a deep check with at least one failed resource. */
    status: z.enum(['ok', 'failing']),
    version: z.string(),
    time: Timestamp,
    /** Only with `deep=1`: one entry per table and queue the API uses. */
    checks: z.optional(z.array(ResourceCheck)),
  })
  .register(z.globalRegistry, { id: 'HealthResponse' });
