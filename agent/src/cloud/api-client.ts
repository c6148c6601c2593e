/**
 * The device half of the contract (functions/contract/routes.ts): report, target (ETag), pending jobs, job
 * execution updates. Every call goes through the shared upstream-call policy (functions/client/upstream-call.ts):
 * a timeout per attempt via AbortController; jittered exponential retries for the idempotent GETs only, and never
 * for back-pressure, which every route surfaces at once (the link waits, see below). The
 * report POST is never retried here: the on-disk outbox redelivers it later under the same sequence number,
 * which the API stores at most once.
 *
 * Failures are split in three: `CloudThrottled` (429, or 503 with Retry-After) is back-pressure from an API that
 * is there: the link waits the advertised time and stays online; `CloudUnavailable` (network error, timeout, other
 * 5xx, and 401/403, which no amount of sending fixes right now) makes the link go offline; any other answer proves
 * the API is there.
 *
 * `sync` is the one-round-trip protocol (POST /sync); an API that does not know the route (an older deployment)
 * answers 404/405, which `sync` reports as `unsupported` so the link falls back to the separate routes.
 */
import { DeviceReport, ReportAck } from '#contract/report.js';
import { SyncResponse } from '#contract/sync.js';
import { Job, PendingJobs, type JobExecutionUpdate } from '#contract/jobs.js';
import { TargetStateDocument } from '#contract/target-state.js';
import {
  callUpstream,
  DEFAULT_UPSTREAM_POLICY,
  isBackPressure,
  retryAfterMs,
  type FetchLike,
  type UpstreamPolicy,
} from '#client/upstream-call.js';
import { randomUUID } from 'node:crypto';
import { jobCorrelationId } from '../job-context.js';
import { httpFetch, type TransportResponse } from './http-transport.js';

export class CloudUnavailable extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'CloudUnavailable';
  }
}

/** The API asked us to slow down (429, or 503 with Retry-After): wait `retryAfterMs`, stay online. */
export class CloudThrottled extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly retryAfterMs: number,
  ) {
    super(message);
    this.name = 'CloudThrottled';
  }
}

/** Back-pressure without a Retry-After: wait this long. */
export const DEFAULT_THROTTLE_WAIT_MS = 5_000;
/** Never wait longer than this for one Retry-After (a broken header must not silence the agent for hours). */
export const MAX_THROTTLE_WAIT_MS = 60_000;

export type SyncResult =
  | { kind: 'ok'; body: SyncResponse; sentAtWall: number; receivedAtWall: number; correlationId: string }
  | { kind: 'unsupported'; status: number }
  | { kind: 'rejected'; status: number; error: string; message: string };

export interface CloudApiOptions {
  baseUrl: string;
  deviceId: string;
  /**
   * The device token (`<deviceId>.<secret>`), sent as a Bearer token only; a function is asked before each call
   * (the agent's token file, re-read when a rotation replaced it).
   */
  token: string | (() => string);
  policy?: UpstreamPolicy;
  fetch?: FetchLike<TransportResponse>;
  random?: () => number;
  agentVersion?: string;
}

export type ReportResult =
  | { kind: 'ack'; ack: ReportAck; sentAtWall: number; receivedAtWall: number; correlationId: string }
  | { kind: 'stale'; lastSeq: number }
  | { kind: 'rejected'; status: number; error: string; message: string };

export type TargetResult =
  | { kind: 'unchanged' }
  | { kind: 'changed'; doc: TargetStateDocument; etag: string }
  | { kind: 'none' };

export type JobUpdateResult =
  | { kind: 'ok'; job: Job }
  | { kind: 'conflict'; error: string; message: string; details?: unknown }
  | { kind: 'not-found' }
  | { kind: 'rejected'; status: number; error: string; message: string };

interface ErrorBodyLike {
  error?: string;
  message?: string;
  details?: unknown;
}

export class CloudApi {
  private readonly base: string;
  private readonly fetch: FetchLike<TransportResponse>;
  private readonly policy: UpstreamPolicy;

  constructor(private readonly opts: CloudApiOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.fetch = opts.fetch ?? httpFetch;
    this.policy = opts.policy ?? DEFAULT_UPSTREAM_POLICY;
  }

  get deviceId(): string {
    return this.opts.deviceId;
  }

  async postReport(report: DeviceReport, wallNow: () => number = Date.now): Promise<ReportResult> {
    const sentAtWall = wallNow();
    const res = await this.call('POST', `/v1/devices/${this.opts.deviceId}/reports`, JSON.stringify(report));
    const receivedAtWall = wallNow();
    if (res.status === 200) {
      const ack = ReportAck.safeParse(res.json);
      if (!ack.success)
        throw new CloudUnavailable(`report ack does not match the contract: ${ack.error.message.slice(0, 200)}`, 200);
      return { kind: 'ack', ack: ack.data, sentAtWall, receivedAtWall, correlationId: res.correlationId };
    }
    const body = (res.json ?? {}) as ErrorBodyLike;
    if (res.status === 409 && body.error === 'stale_sequence') {
      const lastSeq = Number((body.details as { lastSeq?: unknown } | undefined)?.lastSeq);
      if (Number.isSafeInteger(lastSeq)) return { kind: 'stale', lastSeq };
    }
    return { kind: 'rejected', status: res.status, error: body.error ?? 'unknown', message: body.message ?? '' };
  }

  /** One round trip: the report in; its ack, pending jobs, the target if changed, the next interval out. */
  async sync(
    report: DeviceReport,
    targetEtag: string | undefined,
    wallNow: () => number = Date.now,
  ): Promise<SyncResult> {
    const sentAtWall = wallNow();
    const res = await this.call(
      'POST',
      `/v1/devices/${this.opts.deviceId}/sync`,
      JSON.stringify(targetEtag ? { report, targetEtag } : { report }),
    );
    const receivedAtWall = wallNow();
    if (res.status === 200) {
      const body = SyncResponse.safeParse(res.json);
      if (!body.success)
        throw new CloudUnavailable(`sync answer does not match the contract: ${body.error.message.slice(0, 200)}`, 200);
      return { kind: 'ok', body: body.data, sentAtWall, receivedAtWall, correlationId: res.correlationId };
    }
    if (res.status === 404 || res.status === 405) return { kind: 'unsupported', status: res.status };
    const body = (res.json ?? {}) as ErrorBodyLike;
    return { kind: 'rejected', status: res.status, error: body.error ?? 'unknown', message: body.message ?? '' };
  }

  async getTarget(etag: string | undefined): Promise<TargetResult> {
    const headers: Record<string, string> = {};
    if (etag) headers['if-none-match'] = etag;
    const res = await this.call('GET', `/v1/devices/${this.opts.deviceId}/target`, undefined, headers);
    if (res.status === 304) return { kind: 'unchanged' };
    if (res.status === 404) return { kind: 'none' };
    if (res.status !== 200) throw new CloudUnavailable(`GET target answered ${res.status}`, res.status);
    const doc = TargetStateDocument.safeParse(res.json);
    if (!doc.success)
      throw new CloudUnavailable(
        `target document does not match the contract: ${doc.error.message.slice(0, 200)}`,
        200,
      );
    return { kind: 'changed', doc: doc.data, etag: res.etag ?? `"${doc.data.version}"` };
  }

  async pendingJobs(): Promise<Job[]> {
    const res = await this.call('GET', `/v1/devices/${this.opts.deviceId}/jobs/pending`);
    if (res.status !== 200) throw new CloudUnavailable(`GET pending jobs answered ${res.status}`, res.status);
    const parsed = PendingJobs.safeParse(res.json);
    if (!parsed.success)
      throw new CloudUnavailable(`pending jobs do not match the contract: ${parsed.error.message.slice(0, 200)}`, 200);
    return parsed.data.jobs;
  }

  async updateJob(jobId: string, update: JobExecutionUpdate): Promise<JobUpdateResult> {
    // Not declared idempotent: a repeat after a lost answer would meet a bumped version (409). The job runner
    // recovers from that through the pending list instead.
    const res = await this.call(
      'PUT',
      `/v1/devices/${this.opts.deviceId}/jobs/${encodeURIComponent(jobId)}`,
      JSON.stringify(update),
    );
    if (res.status === 200) {
      const job = Job.safeParse(res.json);
      if (!job.success)
        throw new CloudUnavailable(`job does not match the contract: ${job.error.message.slice(0, 200)}`, 200);
      return { kind: 'ok', job: job.data };
    }
    const body = (res.json ?? {}) as ErrorBodyLike;
    if (res.status === 404) return { kind: 'not-found' };
    if (res.status === 409)
      return { kind: 'conflict', error: body.error ?? 'conflict', message: body.message ?? '', details: body.details };
    return { kind: 'rejected', status: res.status, error: body.error ?? 'unknown', message: body.message ?? '' };
  }

  private async call(
    method: string,
    path: string,
    body?: string,
    extra: Record<string, string> = {},
  ): Promise<{ status: number; json: unknown; etag: string | null; correlationId: string }> {
    const token = typeof this.opts.token === 'function' ? this.opts.token() : this.opts.token;
    const headers: Record<string, string> = {
      authorization: `Bearer ${token.trim()}`,
      accept: 'application/json',
      'user-agent': `fleetmedic-agent/${this.opts.agentVersion ?? '0'}`,
      // The running job's id for requests made on its behalf, else a fresh one per request (the API logs it and
      // echoes it; a retry of the same request keeps it).
      'x-correlation-id': jobCorrelationId() ?? randomUUID(),
      ...extra,
    };
    const correlationId = headers['x-correlation-id']!;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: TransportResponse;
    try {
      // Back-pressure comes back at once, GET or not: the link waits the advertised time (jittered) and stays online.
      res = await callUpstream(
        this.fetch,
        { url: `${this.base}${path}`, method, headers, body, surfaceBackPressure: true },
        this.policy,
        this.opts.random ? { random: this.opts.random } : {},
      );
    } catch (err) {
      throw new CloudUnavailable(`${method} ${path}: ${(err as Error).message}`);
    }
    const text = await withTimeout(
      res.text(),
      this.policy.timeoutMs,
      `${method} ${path}: body not received within ${this.policy.timeoutMs} ms`,
    );
    if (isBackPressure(res)) {
      const waitMs = Math.min(MAX_THROTTLE_WAIT_MS, retryAfterMs(res) ?? DEFAULT_THROTTLE_WAIT_MS);
      throw new CloudThrottled(
        `${method} ${path} answered ${res.status}: slow down for ${waitMs} ms`,
        res.status,
        waitMs,
      );
    }
    if (res.status >= 500)
      throw new CloudUnavailable(`${method} ${path} answered ${res.status}: ${text.slice(0, 200)}`, res.status);
    if (res.status === 401 || res.status === 403)
      throw new CloudUnavailable(
        `${method} ${path} answered ${res.status} (device token refused): ${text.slice(0, 200)}`,
        res.status,
      );
    let json: unknown = null;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        if (res.status < 300) throw new CloudUnavailable(`${method} ${path}: answer is not JSON`, res.status);
      }
    }
    return { status: res.status, json, etag: res.headers.get('etag'), correlationId };
  }
}

/** Validates a report against the contract before it is buffered (a bug must not poison the outbox). */
export function checkReport(report: DeviceReport): string | null {
  const r = DeviceReport.safeParse(report);
  return r.success ? null : r.error.message.slice(0, 500);
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new CloudUnavailable(message)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(new CloudUnavailable(String((e as Error)?.message ?? e)));
      },
    );
  });
}
