/**
 * The route table: the one list of HTTP routes. The handlers dispatch on it, the CDK API construct
 * creates its routes from it, the local server matches requests with it, and the OpenAPI document
 * is generated from it. Paths use API Gateway's `{param}` syntax.
 *
 * Longer than the ~400 lines a file keeps to, on purpose: this is the one list every consumer reads, one short
 * entry per route; split, it would be several lists to keep in step.
 */
import * as z from 'zod/mini';
import { DeviceId, ErrorBody, JobId } from './common.js';
import { EnqueueJobRequest, Job, JobExecutionUpdate, PendingJobs } from './jobs.js';
import {
  CircuitResetResponse,
  CreateSilenceRequest,
  DeadLetterJobRequest,
  ResetAllCircuitsRequest,
  ResetAllCircuitsResponse,
  DeadLetterList,
  DeviceDetail,
  DeviceList,
  HealthResponse,
  Marker,
  RecentEvents,
  RedriveRequest,
  RedriveResponse,
  RegisterDeviceRequest,
  RegisterDeviceResponse,
  SetMarkerRequest,
  SilenceList,
  SilenceView,
} from './operator.js';
import {
  AbortRolloutRequest,
  CreateRolloutRequest,
  MAX_CREATE_ROLLOUT_BYTES,
  RolloutId,
  RolloutList,
  RolloutView,
} from './rollouts.js';
import { RegistryCredentialInput, RegistryCredentialName, RegistryCredentialStored } from './registry.js';
import { DeviceReport, MAX_REPORT_BYTES, ReportAck } from './report.js';
import { MAX_STATS_SINCE_SECONDS, RecoveryStats } from './stats.js';
import { DecommissionedDevice, RotateDeviceTokenRequest, RotatedDeviceToken } from './credentials.js';
import { MAX_SYNC_BYTES, SyncRequest, SyncResponse } from './sync.js';
import { TargetState, TargetStateDocument } from './target-state.js';

/** Which Lambda serves a route, and who may call it. */
export type RouteFunction = 'device-api' | 'operator-api';
export type RouteAuth = 'device' | 'operator' | 'public';

export interface RouteDef {
  operationId: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  fn: RouteFunction;
  auth: RouteAuth;
  summary: string;
  pathParams?: z.ZodMiniObject;
  query?: z.ZodMiniObject;
  body?: z.ZodMiniType;
  /** Largest accepted body in bytes (413 above it). */
  maxBodyBytes?: number;
  /** Request headers the route reads (documented as header parameters). */
  headers?: readonly { name: string; description: string }[];
  responses: Record<number, z.ZodMiniType | null>;
}

const deviceParams = z.object({ deviceId: DeviceId });
const deviceJobParams = z.object({ deviceId: DeviceId, jobId: JobId });
const DEFAULT_MAX_BODY = 16 * 1024;

const commonErrors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 413: ErrorBody } as const;
/** Device routes also answer 429 (with Retry-After) to a device over its request budget. */
const deviceErrors = { ...commonErrors, 429: ErrorBody } as const;

export const routes = [
  {
    operationId: 'getHealth',
    method: 'GET',
    path: '/v1/health',
    fn: 'operator-api',
    auth: 'public',
    summary:
      'Liveness of the API (used by post-deploy acceptance); deep=1 also probes every table and queue the API uses and answers 503 naming those that failed.',
    query: z.object({ deep: z._default(z.enum(['0', '1']), '0') }),
    responses: { 200: HealthResponse, 400: ErrorBody, 503: HealthResponse },
  },
  // ---- device routes: authenticated by the device's own token; a device may touch only its own resources
  {
    operationId: 'syncDevice',
    method: 'POST',
    path: '/v1/devices/{deviceId}/sync',
    fn: 'device-api',
    auth: 'device',
    summary:
      'One round trip per heartbeat: store the report, answer with its ack, pending jobs, the target if it changed, and the next interval.',
    pathParams: deviceParams,
    body: SyncRequest,
    maxBodyBytes: MAX_SYNC_BYTES,
    responses: { 200: SyncResponse, ...commonErrors, 409: ErrorBody },
  },
  {
    operationId: 'postReport',
    method: 'POST',
    path: '/v1/devices/{deviceId}/reports',
    fn: 'device-api',
    auth: 'device',
    summary: 'Heartbeat and state (full or delta), stored idempotently by sequence number.',
    pathParams: deviceParams,
    body: DeviceReport,
    maxBodyBytes: MAX_REPORT_BYTES,
    responses: { 200: ReportAck, ...deviceErrors, 409: ErrorBody },
  },
  {
    operationId: 'getPendingJobs',
    method: 'GET',
    path: '/v1/devices/{deviceId}/jobs/pending',
    fn: 'device-api',
    auth: 'device',
    summary: 'Jobs dispatched to this device and not yet terminal, oldest first.',
    pathParams: deviceParams,
    responses: { 200: PendingJobs, ...deviceErrors },
  },
  {
    operationId: 'updateJobExecution',
    method: 'PUT',
    path: '/v1/devices/{deviceId}/jobs/{jobId}',
    fn: 'device-api',
    auth: 'device',
    summary: 'Move a job execution on, with expectedVersion (409 when stale; terminal states are final).',
    pathParams: deviceJobParams,
    body: JobExecutionUpdate,
    responses: { 200: Job, ...deviceErrors, 404: ErrorBody, 409: ErrorBody },
  },
  {
    operationId: 'getTargetState',
    method: 'GET',
    path: '/v1/devices/{deviceId}/target',
    fn: 'device-api',
    auth: 'device',
    summary: 'The target state; send If-None-Match with the last ETag to get 304 when unchanged.',
    pathParams: deviceParams,
    headers: [
      { name: 'If-None-Match', description: 'The ETag of the target the device holds: 304 while it is still current.' },
    ],
    responses: { 200: TargetStateDocument, 304: null, ...deviceErrors, 404: ErrorBody },
  },
  {
    operationId: 'renewDeviceToken',
    method: 'POST',
    path: '/v1/devices/{deviceId}/token/renew',
    fn: 'device-api',
    auth: 'device',
    summary:
      'The device asks for a new token (shown once). The token it called with keeps working for 24 h, so a lost answer never locks it out.',
    pathParams: deviceParams,
    responses: { 200: RotatedDeviceToken, ...deviceErrors },
  },
  // ---- operator routes: IAM in AWS, a bearer token from a secret in local mode
  {
    operationId: 'registerDevice',
    method: 'POST',
    path: '/v1/devices',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'Create a device; its token is returned exactly once.',
    body: RegisterDeviceRequest,
    responses: { 201: RegisterDeviceResponse, ...commonErrors, 409: ErrorBody },
  },
  {
    operationId: 'listDevices',
    method: 'GET',
    path: '/v1/devices',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'Devices with health, circuit state and error badges.',
    query: z.object({
      limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(500)), 100),
      nextToken: z.optional(z.string().check(z.maxLength(2048))),
    }),
    responses: { 200: DeviceList, ...commonErrors },
  },
  {
    operationId: 'getDevice',
    method: 'GET',
    path: '/v1/devices/{deviceId}',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'Device detail: services, errors, circuit, markers, recent events.',
    pathParams: deviceParams,
    responses: { 200: DeviceDetail, ...commonErrors, 404: ErrorBody },
  },
  {
    operationId: 'decommissionDevice',
    method: 'DELETE',
    path: '/v1/devices/{deviceId}',
    fn: 'operator-api',
    auth: 'operator',
    summary:
      'Decommission a device: its tokens stop working, its open jobs are cancelled, it leaves the liveness and offline indexes, and its items expire (TTL). Idempotent.',
    pathParams: deviceParams,
    responses: { 200: DecommissionedDevice, ...commonErrors, 404: ErrorBody },
  },
  {
    operationId: 'rotateDeviceToken',
    method: 'POST',
    path: '/v1/devices/{deviceId}/token/rotate',
    fn: 'operator-api',
    auth: 'operator',
    summary:
      'Mint a new device token (shown once); the old one keeps working for overlapSeconds (default 24 h, 0 = revoke now).',
    pathParams: deviceParams,
    body: RotateDeviceTokenRequest,
    responses: { 200: RotatedDeviceToken, ...commonErrors, 404: ErrorBody },
  },
  {
    operationId: 'putTargetState',
    method: 'PUT',
    path: '/v1/devices/{deviceId}/target',
    fn: 'operator-api',
    auth: 'operator',
    summary:
      'Replace the target state of a device. Send If-Match with the ETag you read so a concurrent change is not overwritten (412); 400 when it names a registry credential that does not exist.',
    pathParams: deviceParams,
    headers: [
      {
        name: 'If-Match',
        description:
          'The ETag (target version) this change is based on, as GET /v1/devices/{deviceId} or this route returned it; `*` means "a target exists". 412 when the current target is another version; absent: unconditional.',
      },
    ],
    body: TargetState,
    maxBodyBytes: 64 * 1024,
    responses: { 200: TargetStateDocument, ...commonErrors, 404: ErrorBody, 412: ErrorBody },
  },
  {
    operationId: 'putRegistryCredential',
    method: 'PUT',
    path: '/v1/registry-credentials/{name}',
    fn: 'operator-api',
    auth: 'operator',
    summary:
      'Store or rotate a private registry credential (encrypted in Secrets Manager); the password is never returned.',
    pathParams: z.object({ name: RegistryCredentialName }),
    body: RegistryCredentialInput,
    responses: { 200: RegistryCredentialStored, 201: RegistryCredentialStored, ...commonErrors },
  },
  {
    operationId: 'deleteRegistryCredential',
    method: 'DELETE',
    path: '/v1/registry-credentials/{name}',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'Delete a registry credential at once (devices whose target names it pull anonymously from then on).',
    pathParams: z.object({ name: RegistryCredentialName }),
    responses: { 204: null, ...commonErrors, 404: ErrorBody },
  },
  {
    operationId: 'enqueueJob',
    method: 'POST',
    path: '/v1/devices/{deviceId}/jobs',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'Enqueue a command for a device (503 circuit_open while its circuit is open).',
    pathParams: deviceParams,
    body: EnqueueJobRequest,
    maxBodyBytes: 64 * 1024,
    responses: { 202: Job, ...commonErrors, 404: ErrorBody, 503: ErrorBody },
  },
  {
    operationId: 'getJob',
    method: 'GET',
    path: '/v1/jobs/{jobId}',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'A job with its full attempt history.',
    pathParams: z.object({ jobId: JobId }),
    responses: { 200: Job, ...commonErrors, 404: ErrorBody },
  },
  {
    operationId: 'cancelJob',
    method: 'POST',
    path: '/v1/jobs/{jobId}/cancel',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'Cancel a job that is not terminal yet.',
    pathParams: z.object({ jobId: JobId }),
    responses: { 200: Job, ...commonErrors, 404: ErrorBody, 409: ErrorBody },
  },
  {
    operationId: 'retryJob',
    method: 'POST',
    path: '/v1/jobs/{jobId}/retry',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'Re-dispatch a QUEUED or stuck IN_PROGRESS job now, as a new attempt (409 when it is finished).',
    pathParams: z.object({ jobId: JobId }),
    responses: { 200: Job, ...commonErrors, 404: ErrorBody, 409: ErrorBody },
  },
  {
    operationId: 'deadLetterJob',
    method: 'POST',
    path: '/v1/jobs/{jobId}/dead-letter',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'Move a QUEUED or stuck IN_PROGRESS job to the jobs dead-letter queue with a reason (redrivable).',
    pathParams: z.object({ jobId: JobId }),
    body: DeadLetterJobRequest,
    responses: { 200: Job, ...commonErrors, 404: ErrorBody, 409: ErrorBody },
  },
  {
    operationId: 'getRecentEvents',
    method: 'GET',
    path: '/v1/events/recent',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'Recent fleet events (command.failed, circuit.opened, alert.raised...), newest first.',
    query: z.object({
      deviceId: z.optional(DeviceId),
      type: z.optional(z.string().check(z.maxLength(64))),
      limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(500)), 50),
    }),
    responses: { 200: RecentEvents, ...commonErrors },
  },
  {
    operationId: 'getRecoveryStats',
    method: 'GET',
    path: '/v1/stats/recoveries',
    fn: 'operator-api',
    auth: 'operator',
    summary:
      'Recovery attempts and success rates per strategy and overall, fleet-wide or for one device: over 1 h, 24 h and 7 d, or over one window of `sinceSeconds`.',
    query: z.object({
      deviceId: z.optional(DeviceId),
      sinceSeconds: z.optional(z.coerce.number().check(z.int(), z.minimum(60), z.maximum(MAX_STATS_SINCE_SECONDS))),
    }),
    responses: { 200: RecoveryStats, ...commonErrors },
  },
  {
    operationId: 'resetCircuit',
    method: 'POST',
    path: '/v1/devices/{deviceId}/circuit/reset',
    fn: 'operator-api',
    auth: 'operator',
    summary: "Close a device's circuit breaker by hand.",
    pathParams: deviceParams,
    responses: { 200: CircuitResetResponse, ...commonErrors, 404: ErrorBody },
  },
  {
    operationId: 'resetAllCircuits',
    method: 'POST',
    path: '/v1/circuits/reset',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'Reset every circuit that is not closed (confirm: true), or list them (dryRun: true).',
    body: ResetAllCircuitsRequest,
    responses: { 200: ResetAllCircuitsResponse, ...commonErrors },
  },
  {
    operationId: 'setMarker',
    method: 'POST',
    path: '/v1/devices/{deviceId}/markers',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'Silence a device or service (manual-stop or maintenance) until the marker expires.',
    pathParams: deviceParams,
    body: SetMarkerRequest,
    responses: { 201: Marker, ...commonErrors, 404: ErrorBody },
  },
  {
    operationId: 'deleteMarker',
    method: 'DELETE',
    path: '/v1/devices/{deviceId}/markers',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'Remove a marker (query service= for a service marker).',
    pathParams: deviceParams,
    query: z.object({ service: z.optional(z.string().check(z.maxLength(63))) }),
    responses: { 204: null, ...commonErrors, 404: ErrorBody },
  },
  {
    operationId: 'createSilence',
    method: 'POST',
    path: '/v1/silences',
    fn: 'operator-api',
    auth: 'operator',
    summary:
      'Silence alerts by matchers on device, service and alert name until it ends (notifications only; recovery goes on).',
    body: CreateSilenceRequest,
    responses: { 201: SilenceView, ...commonErrors },
  },
  {
    operationId: 'listSilences',
    method: 'GET',
    path: '/v1/silences',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'Silences: active, pending and ended in the last week.',
    responses: { 200: SilenceList, ...commonErrors },
  },
  {
    operationId: 'expireSilence',
    method: 'DELETE',
    path: '/v1/silences/{silenceId}',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'End a silence now.',
    pathParams: z.object({ silenceId: z.string().check(z.regex(/^sil_[0-9A-Za-z]{24}$/, 'a silence id (sil_...)')) }),
    responses: { 200: SilenceView, ...commonErrors, 404: ErrorBody },
  },
  {
    operationId: 'createRollout',
    method: 'POST',
    path: '/v1/rollouts',
    fn: 'operator-api',
    auth: 'operator',
    summary:
      'Start a rollout of a target state, or of a job, to devices chosen by labels or listed (frozen now): a canary, then waves at a rate, aborted when the abort criteria are met. 400 when nothing matches, a device is unknown, the job cannot be rolled out (set-target-state: roll out a target; onAbort rollback: a job cannot be taken back), or the plan needs too many stages.',
    body: CreateRolloutRequest,
    maxBodyBytes: MAX_CREATE_ROLLOUT_BYTES,
    responses: { 201: RolloutView, ...commonErrors },
  },
  {
    operationId: 'listRollouts',
    method: 'GET',
    path: '/v1/rollouts',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'Rollouts, newest first, each with its status and per-stage counts.',
    query: z.object({
      limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100)), 20),
      nextToken: z.optional(z.string().check(z.maxLength(200), z.regex(/^[0-9A-Za-z:.#_-]+$/, 'a page token'))),
    }),
    responses: { 200: RolloutList, ...commonErrors },
  },
  {
    operationId: 'getRollout',
    method: 'GET',
    path: '/v1/rollouts/{rolloutId}',
    fn: 'operator-api',
    auth: 'operator',
    summary:
      "A rollout's status: per stage succeeded / failed / in progress / pending / skipped, the abort criteria and how close each is.",
    pathParams: z.object({ rolloutId: RolloutId }),
    responses: { 200: RolloutView, ...commonErrors, 404: ErrorBody },
  },
  {
    operationId: 'pauseRollout',
    method: 'POST',
    path: '/v1/rollouts/{rolloutId}/pause',
    fn: 'operator-api',
    auth: 'operator',
    summary:
      'Pause an active rollout: no new device is moved until it is resumed (moved ones are still judged). 409 unless active.',
    pathParams: z.object({ rolloutId: RolloutId }),
    responses: { 200: RolloutView, ...commonErrors, 404: ErrorBody, 409: ErrorBody },
  },
  {
    operationId: 'resumeRollout',
    method: 'POST',
    path: '/v1/rollouts/{rolloutId}/resume',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'Resume a paused rollout. 409 unless paused.',
    pathParams: z.object({ rolloutId: RolloutId }),
    responses: { 200: RolloutView, ...commonErrors, 404: ErrorBody, 409: ErrorBody },
  },
  {
    operationId: 'abortRollout',
    method: 'POST',
    path: '/v1/rollouts/{rolloutId}/abort',
    fn: 'operator-api',
    auth: 'operator',
    summary:
      'Abort an active or paused rollout: no new device is moved; moved devices get their previous target back unless the rollout says onAbort=leave. 409 when it already finished.',
    pathParams: z.object({ rolloutId: RolloutId }),
    body: AbortRolloutRequest,
    responses: { 200: RolloutView, ...commonErrors, 404: ErrorBody, 409: ErrorBody },
  },
  {
    operationId: 'listDeadLetters',
    method: 'GET',
    path: '/v1/dlq',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'Dead-lettered messages with failure reason and attempt count, grouped by failure pattern.',
    query: z.object({
      queue: z._default(z.enum(['jobs', 'alerts']), 'jobs'),
      max: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(1000)), 100),
    }),
    responses: { 200: DeadLetterList, ...commonErrors },
  },
  {
    operationId: 'redriveDeadLetters',
    method: 'POST',
    path: '/v1/dlq/redrive',
    fn: 'operator-api',
    auth: 'operator',
    summary: 'Move all or a filtered subset of dead letters back to their source queue (dry-run, rate-limited).',
    body: RedriveRequest,
    responses: { 200: RedriveResponse, ...commonErrors },
  },
] as const satisfies readonly RouteDef[];

export type Route = (typeof routes)[number];
export type OperationId = Route['operationId'];

export const routeKey = (r: Pick<RouteDef, 'method' | 'path'>) => `${r.method} ${r.path}`;
export const routesByKey: ReadonlyMap<string, RouteDef> = new Map(routes.map((r) => [routeKey(r), r as RouteDef]));
export const maxBodyBytes = (r: RouteDef) => r.maxBodyBytes ?? DEFAULT_MAX_BODY;

/** Match a concrete method + path against the table (used by the local server and the CLI's tests). */
export function matchRoute(
  method: string,
  path: string,
): { route: RouteDef; pathParameters: Record<string, string> } | { allowed: string[] } | null {
  const segments = path.split('/').filter(Boolean);
  const allowed: string[] = [];
  // Literal segments win over parameters (/v1/jobs/... vs /v1/devices/{deviceId}), as API Gateway does.
  const candidates = [...routes].sort((a, b) => specificity(b.path) - specificity(a.path));
  for (const route of candidates) {
    const parts = route.path.split('/').filter(Boolean);
    if (parts.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < parts.length && ok; i++) {
      const p = parts[i]!;
      const s = segments[i]!;
      if (p.startsWith('{')) params[p.slice(1, -1)] = decodeURIComponent(s);
      else ok = p === s;
    }
    if (!ok) continue;
    if (route.method === method) return { route: route as RouteDef, pathParameters: params };
    allowed.push(route.method);
  }
  return allowed.length ? { allowed } : null;
}

function specificity(path: string) {
  return path.split('/').filter((p) => p && !p.startsWith('{')).length;
}
