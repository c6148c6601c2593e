/**
 * The fleet simulator: N simulated devices speaking the device protocol over real HTTP to the local fleet (the real
 * handlers behind the local API gateway on the emulator, with the real schedules), many devices per process and
 * no containers. Two cohorts run side by side in the same run:
 *
 *  - `sync`: the current protocol at the server's settings (one POST /sync per interval the server hands out,
 *    ±SYNC_JITTER, jobs and target in the answer), through the gateway with the stage throttle `cdk synth` derives
 *    from `fleetSize` = the cohort's size;
 *  - `baseline`: the previous protocol (POST /reports every 30 s, GET /jobs/pending every 10 s, GET /target every
 *    30 s, each ±10 %), a hundredth of the size (at least 10: one such device sends as many requests as ten
 *    sync devices, and the emulator's capacity is the run's limit), through a gateway of its own so its traffic does not eat the sync
 *    cohort's throttle. Per-device figures are compared, so the cohorts need not be the same size.
 *
 * Both use the agent's own HTTP client (agent/src/cloud/api-client.ts). Some devices of each cohort get jobs (a
 * first one while idle, then a follow-up shortly after it finished, i.e. in the device's short-interval window);
 * a few sync devices stop, to measure detection. Everything is counted where it happens: requests at the gateways,
 * Lambda invocations and their durations around the handlers, DynamoDB units on the SDK client (dynamo-units.ts),
 * `device.offline` events as the evaluator writes them. Idle per-device figures come from the devices that had no
 * job and did not stop; the fleet-wide schedules (evaluator, outbox publisher, timeout sweeper) are shared over all
 * simulated devices.
 *
 * Lambda duration: an API invocation is billed at DEVICE_API_SECONDS (functions/domain/capacity.ts, the figure the
 * capacity table assumes), not at its local duration, which is mostly the emulator's and the shared machine's
 * slowness; the local durations are reported beside it. The schedules are billed at their local durations.
 *
 * Longer than the ~400 lines a file keeps to: the two cohorts, the counters around gateway, handlers and SDK,
 * and the result they add up to share one run's state; the report rows are in rows.ts.
 */
import { randomBytes } from 'node:crypto';
import { CloudApi, CloudThrottled } from '../../agent/src/cloud/api-client.js';
import { DEFAULT_LINK_CONFIG, LinkState } from '../../agent/src/cloud/link-state.js';
import type { Job } from '../../functions/contract/jobs.js';
import type { DeviceReport, ServiceReport } from '../../functions/contract/report.js';
import { DEVICE_API_SECONDS } from '../../functions/domain/capacity.js';
import {
  detectionBoundSeconds,
  EVALUATOR_PERIOD_SECONDS,
  SYNC_JITTER,
  type LivenessSettings,
} from '../../functions/domain/liveness.js';
import { dynamo } from '../../functions/lib/aws.js';
import { config } from '../../functions/lib/config.js';
import { stageConfigFrom } from '../../cdk/lib/stage-config.js';
import { startFleet, type Fleet } from '../../local/fleet.js';
import { handlersFromDirectory } from '../../local/handlers.js';
import { startApiServer, type AccessLogEntry, type ApiServer } from '../../local/http-server.js';
import type { LocalHandler } from '../../local/lambda-context.js';
import { newOperatorToken } from '../../local/secrets.js';
import { meterDynamo, type Charge } from './dynamo-units.js';
import { FUNCTIONS } from '../../infra/spec.js';

export type Cohort = 'sync' | 'baseline';

export interface LegacyTiming {
  reportMs: number;
  jobPollMs: number;
  targetPollMs: number;
}

/** The previous protocol's intervals (the agent's defaults before POST /sync). */
export const PREVIOUS_PROTOCOL: LegacyTiming = { reportMs: 30_000, jobPollMs: 10_000, targetPollMs: 30_000 };
/** The agent sends a full report this often (agent/src/cloud/report-scheduler.ts). */
const FULL_REPORT_EVERY_MS = 15 * 60_000;

export interface FleetSimOptions {
  /** Devices on the sync protocol at the server's settings. */
  devices: number;
  /** Seconds measured, after a warm-up in which every device made its first contact. */
  measureSeconds: number;
  /** Devices on the previous protocol (default: a hundredth of `devices`, at least 10). */
  baselineDevices?: number;
  /** Sync devices that stop early in the window (detection); default 1 per 200, at least 1. */
  stopDevices?: number;
  /** Sync devices that get jobs (default 1 per 50, at least 2); baseline devices with jobs: a quarter of that, ≥ 1. */
  jobDevices?: number;
  baselineJobDevices?: number;
  /** Handler environment (liveness settings...); absent keys take the code's defaults. */
  env?: Record<string, string>;
  /** Period of the scheduled functions (default: the evaluator's, 60 s). */
  scheduleSeconds?: number;
  legacy?: LegacyTiming;
  /** Pause between a job's success and its follow-up (default 5 s, well inside the short-interval window). */
  followUpDelayMs?: number;
  log?: (line: string) => void;
}

export interface Latencies {
  samples: number;
  p50: number;
  p99: number;
}

export interface UsagePerDeviceHour {
  /** Device requests at the gateway, by route (`POST /v1/devices/{deviceId}/sync`, ...), 429s included. */
  requestsByRoute: Record<string, number>;
  requests: number;
  lambdaInvocations: number;
  lambdaGbSeconds: number;
  readUnits: number;
  writeUnits: number;
}

export interface CohortResult {
  devices: number;
  idleDevices: number;
  idle: UsagePerDeviceHour;
  /** The fleet-wide schedules' share per device-hour (the same for both cohorts). */
  background: UsagePerDeviceHour;
  /** POST /sync for the sync cohort, POST /reports for the baseline. */
  heartbeatLatencyMs: Latencies;
  /** Enqueue (202) → the device's IN_PROGRESS answered: a job to an idle device, and a follow-up. */
  firstPickupMs: Latencies;
  followUpPickupMs: Latencies;
  jobsEnqueued: number;
  jobsSucceeded: number;
  /** 429 answers the devices got (stage throttle or per-device budget). */
  throttled: number;
  /** Transport failures and 5xx the devices met. */
  errors: number;
  /** Local duration of the idle devices' API invocations (emulator, shared machine): for reference only. */
  localApiDurationMs: Latencies;
}

export interface FleetSimResult {
  liveness: LivenessSettings;
  measuredSeconds: number;
  stageThrottle: { rateLimit: number; burstLimit: number };
  sync: CohortResult;
  baseline: CohortResult;
  /** `device.offline` events for devices that never stopped. */
  falseOffline: { events: number; devices: string[] };
  /** Devices stopped on purpose, and how long after their last answered sync each was marked offline (null: not in the run). */
  stopped: { deviceId: string; detectedAfterMs: number | null }[];
  detectionBoundSeconds: number;
  /** Internal consistency (the test checks these): every count seen from two sides. */
  checks: {
    /** Requests the devices sent that the gateways answered, by cohort, from the devices' side and the gateways'. */
    requestsSent: Record<Cohort, number>;
    requestsAtGateway: Record<Cohort, number>;
    /** device-api invocations by cohort, and the gateway's non-throttled device requests. */
    deviceApiInvocations: Record<Cohort, number>;
    passedThrottle: Record<Cohort, number>;
    /** DynamoDB calls charged, by function. */
    dynamoCallsByFunction: Record<string, number>;
    /** Sync answers `applied` the devices received, and liveness writes the sync cohort's invocations made (whole run). */
    syncsApplied: number;
    livenessWrites: number;
    /** Operator enqueues that failed (retried on the next round). */
    enqueueFailures: number;
  };
}

interface Scope {
  fn: string;
  /** `sync`/`baseline` for a device's own requests; `operator`, `fleet` (schedules), `jobs` (queue consumers). */
  owner: Cohort | 'operator' | 'fleet' | 'jobs';
  deviceId?: string;
  at: number;
}

interface Counter {
  requests: Map<string, number>;
  invocations: number;
  gbSeconds: number;
  readUnits: number;
  writeUnits: number;
}
const newCounter = (): Counter => ({ requests: new Map(), invocations: 0, gbSeconds: 0, readUnits: 0, writeUnits: 0 });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const jitter = (ms: number, share: number) => ms * (1 + (Math.random() * 2 - 1) * share);

function percentiles(values: number[]): Latencies {
  if (!values.length) return { samples: 0, p50: Number.NaN, p99: Number.NaN };
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { samples: s.length, p50: at(0.5), p99: at(0.99) };
}

const SERVICES: ServiceReport[] = [
  {
    name: 'web',
    image: 'registry.local/lab/busybox:1',
    status: 'running',
    restartCount: 0,
    recentRestarts: 0,
    error: null,
    lastHealthCheck: null,
  },
  {
    name: 'worker',
    image: 'registry.local/lab/busybox:2',
    status: 'running',
    restartCount: 1,
    recentRestarts: 0,
    error: null,
    lastHealthCheck: null,
  },
];

interface SimDevice {
  id: string;
  cohort: Cohort;
  api: CloudApi;
  seq: number;
  startedAt: number;
  lastFullAt: number;
  etag?: string;
  stopped: boolean;
  /** Jobs this device already ran (a lagging list may show one again). */
  done: Set<string>;
  /** Waiters for a job's completion (the job orchestrator). */
  finished: Map<string, () => void>;
  jobsOutstanding: number;
  lastAnsweredAt: number;
  /** The agent's own connectivity state: backoff while the API does not answer. */
  link: LinkState;
}

export async function simulateFleet(opts: FleetSimOptions): Promise<FleetSimResult> {
  const log = opts.log ?? (() => {});
  const baselineCount = opts.baselineDevices ?? Math.max(10, Math.ceil(opts.devices / 100));
  const stopCount = opts.stopDevices ?? Math.max(1, Math.floor(opts.devices / 200));
  const jobCount = opts.jobDevices ?? Math.max(2, Math.floor(opts.devices / 50));
  const baselineJobCount = opts.baselineJobDevices ?? Math.max(1, Math.floor(jobCount / 4));
  const legacy = opts.legacy ?? PREVIOUS_PROTOCOL;
  if (stopCount + jobCount >= opts.devices)
    throw new Error(
      `fleet-sim: ${opts.devices} devices cannot hold ${stopCount} stopping and ${jobCount} job devices and idle ones`,
    );
  if (baselineJobCount >= baselineCount)
    throw new Error(
      `fleet-sim: ${baselineCount} baseline devices cannot hold ${baselineJobCount} job devices and idle ones`,
    );

  // ---- the fleet, every handler invocation metered --------------------------------------------------------
  const handlers = handlersFromDirectory();
  const invocations: { scope: Scope; ms: number }[] = [];
  const cohortOf = (deviceId: string | undefined): Cohort | undefined =>
    deviceId?.startsWith('sim-') ? 'sync' : deviceId?.startsWith('old-') ? 'baseline' : undefined;
  let meter: ReturnType<typeof meterDynamo<Scope>> | undefined;
  const resolve = async (name: string): Promise<LocalHandler> => {
    const handler = await handlers(name);
    return async (event: any, context: any) => {
      const deviceId: string | undefined = event?.pathParameters?.deviceId;
      const owner: Scope['owner'] = event?.routeKey
        ? name === 'device-api'
          ? (cohortOf(deviceId) ?? 'operator')
          : 'operator'
        : name === 'job-dispatcher' || name === 'slack-forwarder'
          ? 'jobs'
          : 'fleet';
      const scope: Scope = { fn: name, owner, ...(deviceId ? { deviceId } : {}), at: Date.now() };
      const started = performance.now();
      try {
        return await (meter ? meter.run(scope, () => handler(event, context)) : handler(event, context));
      } finally {
        invocations.push({ scope, ms: performance.now() - started });
      }
    };
  };

  const env = { ...opts.env };
  const contextOf = (k: string) =>
    ({
      fleetSize: opts.devices,
      heartbeatSeconds: env.HEARTBEAT_SECONDS,
      offlineAfterSeconds: env.OFFLINE_AFTER_SECONDS,
      activeSyncSeconds: env.ACTIVE_SYNC_SECONDS,
      activeWindowSeconds: env.ACTIVE_WINDOW_SECONDS,
    })[k];
  const stage = stageConfigFrom({ tryGetContext: contextOf });
  const throttle = { rateLimit: stage.apiRateLimit, burstLimit: stage.apiBurstLimit };

  const access: { entry: AccessLogEntry; at: number }[] = [];
  const fleet: Fleet = await startFleet({
    prefix: `sim${randomBytes(3).toString('hex')}`,
    operatorToken: newOperatorToken(),
    slackPrint: null,
    scheduleSeconds: opts.scheduleSeconds ?? EVALUATOR_PERIOD_SECONDS,
    pollWaitSeconds: 1,
    log,
    resolve,
    throttle,
    env,
    onAccess: (entry) => access.push({ entry, at: Date.now() }),
  });
  let baselineApi: ApiServer | undefined;
  try {
    baselineApi = await startApiServer({ resolve, onAccess: (entry) => access.push({ entry, at: Date.now() }) });
    const liveness = config.liveness;
    log(
      `fleet up (${fleet.apiUrl}); stage throttle ${throttle.rateLimit}/s burst ${throttle.burstLimit}; liveness ${JSON.stringify(liveness)}`,
    );

    // ---- devices -----------------------------------------------------------------------------------------
    const operator = async (base: string, method: string, path: string, body?: unknown) => {
      for (let attempt = 0; ; attempt++) {
        let res: Response;
        let text: string;
        try {
          res = await fetch(`${base}${path}`, {
            method,
            headers: { authorization: `Bearer ${fleet.operatorToken}`, 'content-type': 'application/json' },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(30_000),
          });
          text = await res.text();
        } catch (err) {
          return { status: 0, json: { error: (err as Error).message } as any };
        }
        // The operator shares the stage throttle with the devices: wait and repeat, as an operator would.
        if (res.status === 429 && attempt < 20) {
          await sleep(500 + Math.random() * 1000);
          continue;
        }
        try {
          return { status: res.status, json: (text ? JSON.parse(text) : undefined) as any };
        } catch {
          return { status: res.status, json: { error: text.slice(0, 200) } as any };
        }
      }
    };
    const register = async (id: string, cohort: Cohort): Promise<SimDevice> => {
      const base = cohort === 'sync' ? fleet.apiUrl : baselineApi!.url;
      let r = await operator(base, 'POST', '/v1/devices', { deviceId: id });
      for (let attempt = 0; r.status !== 201 && attempt < 5; attempt++) {
        await sleep(2000);
        r = await operator(base, 'POST', '/v1/devices', { deviceId: id });
        if (r.status === 409)
          throw new Error(
            `registering ${id}: it exists (a repeated registration after a lost answer cannot recover its token)`,
          );
      }
      if (r.status !== 201) throw new Error(`registering ${id}: ${r.status} ${JSON.stringify(r.json)}`);
      return {
        id,
        cohort,
        api: new CloudApi({ baseUrl: base, deviceId: id, token: r.json.token, agentVersion: 'fleet-sim' }),
        seq: 0,
        startedAt: 0,
        lastFullAt: Number.NEGATIVE_INFINITY,
        stopped: false,
        done: new Set(),
        finished: new Map(),
        jobsOutstanding: 0,
        lastAnsweredAt: 0,
        link: new LinkState({ ...DEFAULT_LINK_CONFIG, reconnectJitterMs: 0 }),
      };
    };
    const ids = [
      ...Array.from({ length: opts.devices }, (_, i) => ({
        id: `sim-${String(i).padStart(6, '0')}`,
        cohort: 'sync' as const,
      })),
      ...Array.from({ length: baselineCount }, (_, i) => ({
        id: `old-${String(i).padStart(6, '0')}`,
        cohort: 'baseline' as const,
      })),
    ];
    const devices: SimDevice[] = [];
    for (let i = 0; i < ids.length; i += 5) {
      devices.push(...(await Promise.all(ids.slice(i, i + 5).map((d) => register(d.id, d.cohort)))));
      if (i % 200 === 0) log(`registered ${devices.length} of ${ids.length}`);
    }
    const syncDevices = devices.filter((d) => d.cohort === 'sync');
    const baselineDevices = devices.filter((d) => d.cohort === 'baseline');
    const stopping = new Set(syncDevices.slice(0, stopCount));
    const jobDevices = new Set([
      ...syncDevices.slice(stopCount, stopCount + jobCount),
      ...baselineDevices.slice(0, baselineJobCount),
    ]);

    // Metering starts now: registration is not device traffic.
    meter = meterDynamo<Scope>(dynamo(), fleet.env);
    const charges: { scope: Scope; charge: Charge }[] = [];
    const offlineEvents: { deviceId: string; at: number }[] = [];
    meter.onCharge((scope, charge, op, input) => {
      charges.push({ scope, charge });
      if (charge.calls && scope.owner === 'sync' && op === 'UpdateItemCommand' && input.Key?.pk?.S?.startsWith('LIVE#'))
        livenessWrites++;
      if (!charge.calls || input.TableName !== fleet.env.EVENTS_TABLE) return;
      const items =
        op === 'PutItemCommand'
          ? [input.Item]
          : op === 'TransactWriteItemsCommand'
            ? (input.TransactItems as any[]).map((t) => t.Put?.Item).filter(Boolean)
            : [];
      for (const item of items)
        if (item?.type?.S === 'device.offline')
          offlineEvents.push({ deviceId: item.deviceId?.S ?? '?', at: Date.now() });
    });

    const heartbeatMs = liveness.heartbeatSeconds * 1000;
    const warmupMs = Math.max(heartbeatMs, legacy.reportMs, legacy.targetPollMs) * (1 + SYNC_JITTER) + 2000;
    const started = Date.now();
    const windowStart = started + warmupMs;
    const windowEnd = windowStart + opts.measureSeconds * 1000;
    const hardEnd = windowEnd + Math.max(heartbeatMs * 3, 30_000);
    const inWindow = (t: number) => t >= windowStart && t < windowEnd;
    log(
      `running ${syncDevices.length} sync + ${baselineDevices.length} baseline devices: warm-up ${Math.round(warmupMs / 1000)} s, then ${opts.measureSeconds} s measured`,
    );

    const stats: Record<Cohort, { sent: number; throttled: number; errors: number; latency: number[] }> = {
      sync: { sent: 0, throttled: 0, errors: 0, latency: [] },
      baseline: { sent: 0, throttled: 0, errors: 0, latency: [] },
    };
    const pickups: {
      cohort: Cohort;
      kind: 'first' | 'follow-up';
      enqueuedAt: number;
      inProgressAt?: number;
      succeeded: boolean;
    }[] = [];
    const pickupOf = new Map<string, (typeof pickups)[number]>();
    let enqueueFailures = 0;
    /** Set when the run fails: every device stops, so the process can end. */
    let aborted = false;
    /** Sync answers `applied` (the whole run, sync cohort), to check against the liveness writes the meter saw. */
    let syncsApplied = 0;
    let livenessWrites = 0;

    const nextReport = (d: SimDevice): DeviceReport => {
      const now = Date.now();
      const full = now - d.lastFullAt >= FULL_REPORT_EVERY_MS;
      if (full) d.lastFullAt = now;
      return {
        deviceId: d.id,
        seq: d.seq,
        kind: full ? 'full' : 'delta',
        agentVersion: 'fleet-sim',
        uptimeSeconds: Math.round((now - d.startedAt) / 1000),
        sentAt: new Date(now).toISOString(),
        services: full ? SERVICES : [],
        removedServices: [],
        droppedReports: 0,
      };
    };
    /** One request of a device: counted, its failure turned into the wait the agent would make. */
    const request = async <T>(d: SimDevice, send: () => Promise<T>): Promise<T | { waitMs: number }> => {
      const s = stats[d.cohort];
      const t0 = performance.now();
      s.sent++;
      try {
        const r = await send();
        d.lastAnsweredAt = Date.now();
        d.link.succeeded(performance.now());
        return r;
      } catch (err) {
        if (err instanceof CloudThrottled) {
          s.throttled++;
          return { waitMs: err.retryAfterMs * (1 + 0.2 * Math.random()) };
        }
        s.errors++;
        if (s.errors <= 20 || s.errors % 100 === 0)
          log(
            `${d.id}: ${(err as Error).message.slice(0, 160)} (after ${Math.round(performance.now() - t0)} ms; ${s.errors} failures so far)`,
          );
        // As the agent does (agent/src/cloud/link-state.ts): offline, the next try after a jittered exponential backoff.
        d.link.failed(performance.now());
        return { waitMs: Math.max(0, d.link.nextAt() - performance.now()) };
      }
    };
    const waited = (r: unknown): r is { waitMs: number } => !!r && typeof r === 'object' && 'waitMs' in r;
    /** A device's wait: cut short at the window's end unless it has a job to finish (the run ends sooner). */
    const pause = (d: SimDevice, ms: number) =>
      sleep(d.jobsOutstanding > 0 ? ms : Math.min(ms, windowEnd - Date.now() + 10));
    const alive = (d: SimDevice) =>
      !aborted && !d.stopped && Date.now() < hardEnd && (Date.now() < windowEnd || d.jobsOutstanding > 0);

    const runJobs = async (d: SimDevice, jobs: Job[]) => {
      for (const job of jobs) {
        if (d.done.has(job.jobId) || (job.status !== 'QUEUED' && job.status !== 'IN_PROGRESS')) continue;
        const started = await request(d, () =>
          d.api.updateJob(job.jobId, { status: 'IN_PROGRESS', expectedVersion: job.version }),
        );
        if (waited(started)) return sleep(started.waitMs);
        const p = pickupOf.get(job.jobId);
        if (p && p.inProgressAt === undefined) p.inProgressAt = Date.now();
        if (started.kind !== 'ok') {
          d.done.add(job.jobId);
          continue;
        }
        const finished = await request(d, () =>
          d.api.updateJob(job.jobId, { status: 'SUCCEEDED', expectedVersion: started.job.version }),
        );
        if (waited(finished)) return sleep(finished.waitMs);
        d.done.add(job.jobId);
        if (p) p.succeeded = finished.kind === 'ok';
        d.finished.get(job.jobId)?.();
      }
    };

    const syncLoop = async (d: SimDevice) => {
      await sleep(Math.random() * heartbeatMs);
      d.startedAt = Date.now();
      while (alive(d)) {
        const t0 = performance.now();
        const r = await request(d, () => d.api.sync(nextReport(d), d.etag));
        if (waited(r)) {
          await sleep(r.waitMs);
          continue;
        }
        if (inWindow(Date.now())) stats.sync.latency.push(performance.now() - t0);
        if (r.kind !== 'ok') {
          log(`${d.id}: sync answered ${r.kind} ${'status' in r ? r.status : ''}`);
          await sleep(heartbeatMs);
          continue;
        }
        const ack = r.body.report;
        if (ack.status === 'applied') syncsApplied++;
        d.seq = ack.status === 'stale' ? ack.lastSeq + 1 : d.seq + 1;
        if (r.body.target.changed) d.etag = r.body.target.etag ?? undefined;
        const jobs = r.body.jobs.filter((j) => !d.done.has(j.jobId));
        if (jobs.length) {
          await runJobs(d, jobs);
          continue; // report the outcome and look for more at once, as the agent does
        }
        if (stopping.has(d) && Date.now() >= windowStart + 5000) d.stopped = true;
        else await pause(d, jitter(r.body.nextSyncSeconds * 1000, SYNC_JITTER));
      }
    };

    const legacyLoop = async (d: SimDevice) => {
      d.startedAt = Date.now();
      const loops = [
        // Reports: a full one first, then empty deltas (heartbeats).
        async () => {
          await sleep(Math.random() * legacy.reportMs);
          while (alive(d)) {
            const r = await request(d, () => {
              const t0 = performance.now();
              return d.api.postReport(nextReport(d)).then((x) => ({ x, ms: performance.now() - t0 }));
            });
            if (waited(r)) {
              await sleep(r.waitMs);
              continue;
            }
            if (inWindow(Date.now())) stats.baseline.latency.push(r.ms);
            d.seq = r.x.kind === 'stale' ? r.x.lastSeq + 1 : d.seq + 1;
            await pause(d, jitter(legacy.reportMs, SYNC_JITTER));
          }
        },
        async () => {
          await sleep(Math.random() * legacy.jobPollMs);
          while (alive(d)) {
            const r = await request(d, () => d.api.pendingJobs());
            if (waited(r)) {
              await sleep(r.waitMs);
              continue;
            }
            const jobs = r.filter((j) => !d.done.has(j.jobId));
            if (jobs.length) await runJobs(d, jobs);
            else await pause(d, jitter(legacy.jobPollMs, SYNC_JITTER));
          }
        },
        async () => {
          await sleep(Math.random() * legacy.targetPollMs);
          while (alive(d)) {
            const r = await request(d, () => d.api.getTarget(d.etag));
            if (waited(r)) {
              await sleep(r.waitMs);
              continue;
            }
            if (r.kind === 'changed') d.etag = r.etag;
            await pause(d, jitter(legacy.targetPollMs, SYNC_JITTER));
          }
        },
      ];
      await Promise.all(loops.map((l) => l()));
    };

    /** A device with jobs: a job while idle, a follow-up `followUpDelayMs` after it finished; again when idle. */
    const jobLoop = async (d: SimDevice) => {
      const base = d.cohort === 'sync' ? fleet.apiUrl : baselineApi!.url;
      const followUpDelay = opts.followUpDelayMs ?? 5000;
      const roundMs = (d.cohort === 'sync' ? heartbeatMs * 1.2 : legacy.jobPollMs * 1.2) * 2 + followUpDelay + 10_000;
      const idleGap = () => liveness.activeWindowSeconds * 1000 + Math.random() * heartbeatMs;
      await sleep(
        windowStart -
          Date.now() +
          Math.random() * Math.max(0, Math.min(heartbeatMs, opts.measureSeconds * 1000 - roundMs)),
      );
      while (
        !aborted &&
        Date.now() < hardEnd &&
        (Date.now() + roundMs < windowEnd || !pickups.some((p) => p.cohort === d.cohort && p.kind === 'follow-up'))
      ) {
        for (const kind of ['first', 'follow-up'] as const) {
          d.jobsOutstanding++;
          try {
            const r = await operator(base, 'POST', `/v1/devices/${d.id}/jobs`, {
              type: 'run-health-check',
              params: {},
            });
            if (r.status !== 202) {
              enqueueFailures++;
              log(`enqueue for ${d.id}: ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
              await sleep(2000);
              break; // a new round: a follow-up must follow a job that ran
            }
            const done = new Promise<void>((ok) => d.finished.set(r.json.jobId, ok));
            const p = { cohort: d.cohort, kind, enqueuedAt: Date.now(), succeeded: false };
            pickups.push(p);
            pickupOf.set(r.json.jobId, p);
            await Promise.race([done, new Promise((r) => setTimeout(r, Math.max(0, hardEnd - Date.now())).unref())]);
          } finally {
            d.jobsOutstanding--;
          }
          if (Date.now() >= hardEnd) return;
          if (kind === 'first') await sleep(followUpDelay);
        }
        if (Date.now() >= windowEnd) return;
        await sleep(idleGap());
      }
    };

    const actors = [
      ...syncDevices.map((d) => syncLoop(d)),
      ...baselineDevices.map((d) => legacyLoop(d)),
      ...[...jobDevices].map((d) => jobLoop(d)),
    ];
    const progress = setInterval(
      () =>
        log(
          `${Math.round((Date.now() - started) / 1000)} s: ${stats.sync.sent} sync-cohort and ${stats.baseline.sent} baseline requests, ${offlineEvents.length} device.offline, ${pickups.filter((p) => p.inProgressAt).length}/${pickups.length} jobs picked up`,
        ),
      30_000,
    );
    progress.unref();
    // Stopped devices must have had the time to be detected: the run lasts at least the bound after they stop.
    try {
      await Promise.all(actors);
    } catch (err) {
      aborted = true;
      await Promise.allSettled(actors);
      throw err;
    } finally {
      clearInterval(progress);
    }
    await meter.stop();

    // ---- figures -----------------------------------------------------------------------------------------
    const hours = opts.measureSeconds / 3600;
    const allDevices = devices.length;
    const deviceOf = (path: string) => /^\/v1\/devices\/([^/]+)\//.exec(path)?.[1];
    const routeOf = (e: AccessLogEntry) =>
      e.routeKey ??
      `${e.method} ${e.path.replace(/^\/v1\/devices\/[^/]+/, '/v1/devices/{deviceId}').replace(/\/jobs\/[^/]+$/, '/jobs/{jobId}')}`;
    const idleIds = new Set(devices.filter((d) => !stopping.has(d) && !jobDevices.has(d)).map((d) => d.id));
    const counters: Record<Cohort | 'fleet', Counter> = {
      sync: newCounter(),
      baseline: newCounter(),
      fleet: newCounter(),
    };
    const requestsAtGateway: Record<Cohort, number> = { sync: 0, baseline: 0 };
    const passedThrottle: Record<Cohort, number> = { sync: 0, baseline: 0 };
    for (const { entry } of access) {
      const id = deviceOf(entry.path);
      const cohort = cohortOf(id);
      // /v1/devices/{id}/jobs (POST) is the operator enqueueing: not the device's traffic.
      if (!cohort || (entry.method === 'POST' && entry.path.endsWith('/jobs'))) continue;
      requestsAtGateway[cohort]++;
      if (entry.status !== 429 || entry.routeKey) passedThrottle[cohort]++;
    }
    for (const { entry, at } of access) {
      const id = deviceOf(entry.path);
      const cohort = cohortOf(id);
      if (!cohort || !idleIds.has(id!) || !inWindow(at) || (entry.method === 'POST' && entry.path.endsWith('/jobs')))
        continue;
      const route = routeOf(entry);
      counters[cohort].requests.set(route, (counters[cohort].requests.get(route) ?? 0) + 1);
    }
    const deviceApiInvocations: Record<Cohort, number> = { sync: 0, baseline: 0 };
    const localApiMs: Record<Cohort, number[]> = { sync: [], baseline: [] };
    for (const { scope, ms } of invocations) {
      if (scope.owner === 'sync' || scope.owner === 'baseline') deviceApiInvocations[scope.owner]++;
      if (!inWindow(scope.at)) continue;
      const device =
        (scope.owner === 'sync' || scope.owner === 'baseline') && idleIds.has(scope.deviceId!)
          ? scope.owner
          : undefined;
      const target = scope.owner === 'fleet' ? counters.fleet : device ? counters[device] : undefined;
      if (!target) continue;
      if (device) localApiMs[device].push(ms);
      target.invocations++;
      const billedSeconds = device ? DEVICE_API_SECONDS : Math.ceil(ms) / 1000;
      target.gbSeconds += billedSeconds * (FUNCTIONS[scope.fn as keyof typeof FUNCTIONS].memoryMb / 1024);
    }
    const dynamoCallsByFunction: Record<string, number> = {};
    for (const { scope, charge } of charges) {
      dynamoCallsByFunction[scope.fn] = (dynamoCallsByFunction[scope.fn] ?? 0) + charge.calls;
      if (!inWindow(scope.at)) continue;
      const target =
        scope.owner === 'fleet'
          ? counters.fleet
          : (scope.owner === 'sync' || scope.owner === 'baseline') && idleIds.has(scope.deviceId!)
            ? counters[scope.owner]
            : undefined;
      if (!target) continue;
      target.readUnits += charge.readUnits;
      target.writeUnits += charge.writeUnits;
    }
    const perDeviceHour = (c: Counter, n: number): UsagePerDeviceHour => {
      const requestsByRoute = Object.fromEntries([...c.requests].sort().map(([k, v]) => [k, v / n / hours]));
      return {
        requestsByRoute,
        requests: Object.values(requestsByRoute).reduce((a, b) => a + b, 0),
        lambdaInvocations: c.invocations / n / hours,
        lambdaGbSeconds: c.gbSeconds / n / hours,
        readUnits: c.readUnits / n / hours,
        writeUnits: c.writeUnits / n / hours,
      };
    };
    const background = perDeviceHour(counters.fleet, allDevices);
    const cohortResult = (cohort: Cohort, members: SimDevice[]): CohortResult => {
      const idle = members.filter((d) => idleIds.has(d.id)).length;
      const jobs = pickups.filter((p) => p.cohort === cohort && inWindow(p.enqueuedAt));
      const pickup = (kind: 'first' | 'follow-up') =>
        percentiles(
          jobs
            .filter((p) => p.kind === kind && p.inProgressAt !== undefined)
            .map((p) => p.inProgressAt! - p.enqueuedAt),
        );
      return {
        devices: members.length,
        idleDevices: idle,
        idle: perDeviceHour(counters[cohort], idle),
        background,
        heartbeatLatencyMs: percentiles(stats[cohort].latency),
        firstPickupMs: pickup('first'),
        followUpPickupMs: pickup('follow-up'),
        jobsEnqueued: pickups.filter((p) => p.cohort === cohort).length,
        jobsSucceeded: pickups.filter((p) => p.cohort === cohort && p.succeeded).length,
        throttled: stats[cohort].throttled,
        errors: stats[cohort].errors,
        localApiDurationMs: percentiles(localApiMs[cohort]),
      };
    };
    const stoppedIds = new Set([...stopping].map((d) => d.id));
    // Idle devices stop at the window's end, and are rightly marked offline later: only the window counts.
    const falseOffline = offlineEvents.filter((e) => !stoppedIds.has(e.deviceId) && e.at < windowEnd);
    return {
      liveness,
      measuredSeconds: opts.measureSeconds,
      stageThrottle: throttle,
      sync: cohortResult('sync', syncDevices),
      baseline: cohortResult('baseline', baselineDevices),
      falseOffline: { events: falseOffline.length, devices: [...new Set(falseOffline.map((e) => e.deviceId))] },
      stopped: [...stopping].map((d) => {
        const e = offlineEvents.find((x) => x.deviceId === d.id && x.at < windowEnd);
        return { deviceId: d.id, detectedAfterMs: e ? e.at - d.lastAnsweredAt : null };
      }),
      detectionBoundSeconds: detectionBoundSeconds(liveness),
      checks: {
        requestsSent: { sync: stats.sync.sent, baseline: stats.baseline.sent },
        requestsAtGateway,
        deviceApiInvocations,
        passedThrottle,
        dynamoCallsByFunction,
        syncsApplied,
        livenessWrites,
        enqueueFailures,
      },
    };
  } finally {
    await baselineApi?.close();
    await fleet.close();
  }
}
