/**
 * A small, real HTTP server that speaks the device half of the contract for the agent's cloud-link tests,
 * with switches the real control plane does not have: go down (refuse connections, answer 503, or accept and
 * never answer), skew the server clock, start at a high sequence. Requests are matched with the route table and
 * validated with the contract's zod schemas (a malformed agent request is a 400 here, as it would be for real);
 * job executions follow the real lifecycle (functions/domain/job-lifecycle.ts) with expectedVersion.
 * By default it is an API of the previous release (no POST /sync: 404, so the agent falls back to the separate
 * routes); `sync: true` makes it speak the sync protocol. `throttleNext` answers requests with 429/503 + Retry-After.
 * Tests of the agent against the real handlers live next to these (cloud-api.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { DeviceReport, type DeviceReport as DeviceReportT } from '../../functions/contract/report.js';
import { SyncRequest } from '../../functions/contract/sync.js';
import { JobExecutionUpdate, type Job } from '../../functions/contract/jobs.js';
import { matchRoute } from '../../functions/contract/routes.js';
import { TargetState, type TargetStateInput } from '../../functions/contract/target-state.js';
import { transition } from '../../functions/domain/job-lifecycle.js';

export type DownMode = 'refuse' | 'error-503' | 'blackhole';

export interface FakeApi {
  url: string;
  deviceId: string;
  token: string;
  /** Every report the server stored (status applied), in arrival order. */
  stored: DeviceReportT[];
  /** Every report POST that reached the handler, with the answer. */
  reportLog: Array<{ seq: number; status: number; kind: string }>;
  requests: Array<{ method: string; path: string; status: number; at: number }>;
  lastSeq: number;
  serverTimeOffsetMs: number;
  jobs: Map<string, Job>;
  jobUpdates: Array<{
    jobId: string;
    status: string;
    expectedVersion: number;
    statusDetails?: Record<string, unknown>;
    answer: number;
  }>;
  /** The interval a sync answer asks for (seconds). */
  nextSyncSeconds: number;
  /**
   * Answer the next `count` device requests with `status` (429 or 503) and `Retry-After: retryAfterSeconds`; with
   * `method`, only requests of that method (the others pass).
   */
  throttleNext(count: number, retryAfterSeconds: number, status?: 429 | 503, method?: string): void;
  setTarget(target: TargetStateInput, version?: string): string;
  enqueue(type: string, params: Record<string, unknown>): Job;
  goDown(mode: DownMode): Promise<void>;
  comeBack(): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeApi(
  opts: { deviceId?: string; startSeq?: number; sync?: boolean } = {},
): Promise<FakeApi> {
  const deviceId = opts.deviceId ?? 'dev-fake-1';
  const token = `${deviceId}.${randomBytes(16).toString('hex')}`;
  let target: { version: string; updatedAt: string; target: TargetState } | null = null;
  let mode: DownMode | null = null;
  let jobSeq = 0;
  let throttle: { count: number; retryAfterSeconds: number; status: number; method?: string } | null = null;
  const sockets = new Set<Socket>();

  const api: FakeApi = {
    url: '',
    deviceId,
    token,
    stored: [],
    reportLog: [],
    requests: [],
    lastSeq: opts.startSeq ?? 0,
    serverTimeOffsetMs: 0,
    jobs: new Map(),
    jobUpdates: [],
    nextSyncSeconds: 1,
    throttleNext(count, retryAfterSeconds, requestedStatus, method) {
      const status = requestedStatus ?? 429;
      throttle = { count, retryAfterSeconds, status, ...(method ? { method } : {}) };
    },
    setTarget(t, version) {
      const v = version ?? `v${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
      target = { version: v, updatedAt: new Date().toISOString(), target: TargetState.parse(t) };
      return v;
    },
    enqueue(type, params) {
      const now = new Date().toISOString();
      const job: Job = {
        jobId: `job_${Date.now().toString(36)}${String(++jobSeq).padStart(6, '0')}`,
        deviceId,
        type,
        params,
        status: 'QUEUED',
        version: 1,
        attempt: 1,
        createdAt: now,
        updatedAt: now,
        correlationId: `corr-${jobSeq}`,
        history: [{ attempt: 1, status: 'QUEUED', at: now, by: 'operator' }],
      };
      api.jobs.set(job.jobId, job);
      return job;
    },
    async goDown(m) {
      mode = m;
      if (m === 'refuse') {
        await new Promise<void>((r) => server.close(() => r()));
        for (const s of sockets) s.destroy();
      }
    },
    async comeBack() {
      if (mode === 'refuse') await listen(port);
      mode = null;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => (server.listening ? server.close(() => r()) : r()));
    },
  };

  const server: Server = createServer((req, res) => void handle(req, res));
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { ...(text ? { 'content-type': 'application/json' } : {}), ...headers });
    res.end(text);
  }
  const error = (res: ServerResponse, status: number, code: string, message: string, details?: unknown) =>
    send(res, status, { error: code, message, ...(details !== undefined ? { details } : {}) });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    if (mode === 'blackhole') return; // accept, never answer: the agent's timeout must fire
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0]!;
    const record = (status: number) => api.requests.push({ method, path, status, at: Date.now() });
    if (mode === 'error-503') {
      record(503);
      return error(res, 503, 'internal_error', 'down for the test');
    }
    if (throttle && throttle.count > 0 && (!throttle.method || throttle.method === method)) {
      throttle.count--;
      record(throttle.status);
      return send(
        res,
        throttle.status,
        { error: throttle.status === 429 ? 'too_many_requests' : 'unavailable', message: 'slow down' },
        { 'retry-after': String(throttle.retryAfterSeconds) },
      );
    }
    const m = matchRoute(method, path);
    if (!m || 'allowed' in m || (m.route.operationId === 'syncDevice' && !opts.sync)) {
      record(404);
      return error(res, 404, 'not_found', 'no such route');
    }
    if (m.route.auth !== 'device' || req.headers.authorization !== `Bearer ${token}`) {
      record(401);
      return error(res, 401, 'unauthorized', 'bad device token');
    }
    if (m.pathParameters.deviceId !== deviceId) {
      record(403);
      return error(res, 403, 'forbidden', 'another device');
    }
    const now = Date.now() + api.serverTimeOffsetMs;
    let json: unknown;
    if (chunks.length) {
      try {
        json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        record(400);
        return error(res, 400, 'invalid_json', 'body is not JSON');
      }
    }
    switch (m.route.operationId) {
      case 'syncDevice': {
        const parsed = SyncRequest.safeParse(json);
        if (!parsed.success) {
          record(400);
          return error(res, 400, 'validation_failed', parsed.error.message);
        }
        const r = parsed.data.report;
        let status: 'applied' | 'duplicate' | 'stale';
        if (r.seq === api.lastSeq && api.stored.some((x) => x.seq === r.seq)) status = 'duplicate';
        else if (r.seq <= api.lastSeq) status = 'stale';
        else {
          status = 'applied';
          api.lastSeq = r.seq;
          api.stored.push(r);
        }
        api.reportLog.push({ seq: r.seq, status: 200, kind: status === 'applied' ? r.kind : status });
        const etag = target ? `"${target.version}"` : null;
        const changed = target !== null && parsed.data.targetEtag !== etag;
        const jobs = [...api.jobs.values()].filter((j) => j.status === 'QUEUED' || j.status === 'IN_PROGRESS');
        record(200);
        return send(res, 200, {
          report: { status, seq: r.seq, lastSeq: api.lastSeq, serverTime: new Date(now).toISOString() },
          jobs,
          target: { etag, changed, ...(changed ? { document: target } : {}) },
          nextSyncSeconds: jobs.length ? 1 : api.nextSyncSeconds,
        });
      }
      case 'postReport': {
        const parsed = DeviceReport.safeParse(json);
        if (!parsed.success) {
          record(400);
          return error(res, 400, 'validation_failed', parsed.error.message);
        }
        const r = parsed.data;
        if (r.seq === api.lastSeq && api.stored.some((s) => s.seq === r.seq)) {
          api.reportLog.push({ seq: r.seq, status: 200, kind: 'duplicate' });
          record(200);
          return send(res, 200, {
            status: 'duplicate',
            seq: r.seq,
            lastSeq: api.lastSeq,
            serverTime: new Date(now).toISOString(),
          });
        }
        if (r.seq <= api.lastSeq) {
          api.reportLog.push({ seq: r.seq, status: 409, kind: 'stale' });
          record(409);
          return error(res, 409, 'stale_sequence', `Sequence ${r.seq} is older than the stored ${api.lastSeq}`, {
            seq: r.seq,
            lastSeq: api.lastSeq,
          });
        }
        api.lastSeq = r.seq;
        api.stored.push(r);
        api.reportLog.push({ seq: r.seq, status: 200, kind: r.kind });
        record(200);
        return send(res, 200, {
          status: 'applied',
          seq: r.seq,
          lastSeq: r.seq,
          serverTime: new Date(now).toISOString(),
        });
      }
      case 'getTargetState': {
        if (!target) {
          record(404);
          return error(res, 404, 'not_found', 'no target');
        }
        const etag = `"${target.version}"`;
        if (req.headers['if-none-match'] === etag) {
          record(304);
          res.writeHead(304, { etag });
          return res.end();
        }
        record(200);
        return send(res, 200, target, { etag });
      }
      case 'getPendingJobs': {
        record(200);
        return send(res, 200, {
          jobs: [...api.jobs.values()].filter((j) => j.status === 'QUEUED' || j.status === 'IN_PROGRESS'),
        });
      }
      case 'updateJobExecution': {
        const parsed = JobExecutionUpdate.safeParse(json);
        if (!parsed.success) {
          record(400);
          return error(res, 400, 'validation_failed', parsed.error.message);
        }
        const u = parsed.data;
        const jobId = m.pathParameters.jobId!;
        const job = api.jobs.get(jobId);
        const log = (answer: number) =>
          api.jobUpdates.push({
            jobId,
            status: u.status,
            expectedVersion: u.expectedVersion,
            ...(u.statusDetails ? { statusDetails: u.statusDetails } : {}),
            answer,
          });
        if (!job) {
          log(404);
          record(404);
          return error(res, 404, 'not_found', 'no such job');
        }
        if (job.version !== u.expectedVersion) {
          log(409);
          record(409);
          return error(res, 409, 'version_conflict', `Job is at version ${job.version}`, {
            currentVersion: job.version,
            status: job.status,
          });
        }
        const moved = transition(job, {
          to: u.status,
          by: deviceId,
          now,
          ...(u.statusDetails ? { statusDetails: u.statusDetails } : {}),
        });
        if (!moved.ok) {
          log(409);
          record(409);
          return error(res, 409, 'invalid_transition', moved.message);
        }
        api.jobs.set(jobId, moved.job);
        log(200);
        record(200);
        return send(res, 200, moved.job);
      }
      default:
        record(404);
        return error(res, 404, 'not_found', 'not a device route');
    }
  }

  let port = 0;
  async function listen(p: number) {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    port = (server.address() as AddressInfo).port;
  }
  await listen(0);
  api.url = `http://127.0.0.1:${port}`;
  return api;
}
