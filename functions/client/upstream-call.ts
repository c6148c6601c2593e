/**
 * Upstream-call policy shared by the API's clients, the operator CLI and the device agent:
 *  - every attempt is bounded by a timeout through AbortController (TIMEOUT_MS, default 3 s);
 *  - failures (network errors, timeouts, 5xx, 429) are retried with exponential backoff and full jitter
 *    (RETRY_MAX retries, base RETRY_BACKOFF_MS), but ONLY for idempotent requests: GET/HEAD/OPTIONS, or a
 *    PUT/DELETE the caller declares idempotent. A POST never retries: its failure surfaces at once.
 * Transport, sleep and randomness are injected so the policy is tested without a network or a clock.
 */

export interface UpstreamPolicy {
  timeoutMs: number;
  /** Retries after the first attempt. */
  retryMax: number;
  retryBackoffMs: number;
  /** Ceiling for one backoff pause. */
  maxBackoffMs: number;
}

export const DEFAULT_UPSTREAM_POLICY: UpstreamPolicy = {
  timeoutMs: 3000,
  retryMax: 3,
  retryBackoffMs: 200,
  maxBackoffMs: 10_000,
};

/** Policy from an environment record (TIMEOUT_MS, RETRY_MAX, RETRY_BACKOFF_MS, RETRY_MAX_BACKOFF_MS). */
export function upstreamPolicyFromEnv(
  env: Record<string, string | undefined>,
  base: UpstreamPolicy = DEFAULT_UPSTREAM_POLICY,
): UpstreamPolicy {
  const num = (name: string, fallback: number) => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`configuration error: ${name}=${v} is not a non-negative number`);
    return n;
  };
  return {
    timeoutMs: num('TIMEOUT_MS', base.timeoutMs),
    retryMax: Math.floor(num('RETRY_MAX', base.retryMax)),
    retryBackoffMs: num('RETRY_BACKOFF_MS', base.retryBackoffMs),
    maxBackoffMs: num('RETRY_MAX_BACKOFF_MS', base.maxBackoffMs),
  };
}

export interface UpstreamRequest {
  url: string;
  method: string;
  headers?: Record<string, string>;
  body?: string;
  /** Declare a PUT/DELETE safe to repeat. Ignored for POST, which never retries. */
  idempotent?: boolean;
  /** An outer cancellation (e.g. the agent shutting down); aborts the current attempt and stops retrying. */
  signal?: AbortSignal;
  /**
   * Return back-pressure (429, or 503 with Retry-After) at once instead of retrying it here: for a caller that
   * waits the advertised time itself and has other work meanwhile (the agent's cloud link). Retrying in place
   * would come back before the advertised time, capped by `maxBackoffMs`, and add load to a throttled API.
   */
  surfaceBackPressure?: boolean;
}

/** The subset of fetch's Response the policy looks at. */
export interface ResponseLike {
  status: number;
  headers: { get(name: string): string | null };
}

export type FetchLike<R extends ResponseLike = ResponseLike> = (
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: string; signal: AbortSignal },
) => Promise<R>;

export interface UpstreamDeps {
  sleep: (ms: number) => Promise<void>;
  /** Uniform in [0, 1). */
  random: () => number;
  /** Told about each retry (for logs/metrics). */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
}

const defaultDeps: UpstreamDeps = { sleep: (ms) => new Promise((r) => setTimeout(r, ms)), random: Math.random };

export class UpstreamTimeoutError extends Error {
  constructor(
    readonly url: string,
    readonly timeoutMs: number,
  ) {
    super(`upstream call to ${url} timed out after ${timeoutMs} ms`);
    this.name = 'UpstreamTimeoutError';
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function isRetryableRequest(req: Pick<UpstreamRequest, 'method' | 'idempotent'>): boolean {
  const method = req.method.toUpperCase();
  if (SAFE_METHODS.has(method)) return true;
  if (method === 'POST' || method === 'PATCH') return false;
  return req.idempotent === true;
}

export const isRetryableStatus = (status: number) => status === 429 || status >= 500;

/** The server asks the caller to slow down and come back later: 429, or 503 with a Retry-After. */
export const isBackPressure = (res: ResponseLike) =>
  res.status === 429 || (res.status === 503 && res.headers.get('retry-after') !== null);

/** Full jitter: uniform in [0, min(cap, base · 2^attempt)]  (attempt 0 = first retry). */
export function backoffDelayMs(attempt: number, policy: UpstreamPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxBackoffMs, policy.retryBackoffMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

/** A server's Retry-After (seconds or HTTP date) as ms, if present and sane. */
export function retryAfterMs(res: ResponseLike, now = Date.now()): number | undefined {
  const v = res.headers.get('retry-after');
  if (!v) return undefined;
  const secs = Number(v);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/**
 * Perform the request under the policy. Resolves with the final response (which may be an error status
 * once retries are spent or when the request is not retryable); rejects on a network error or timeout
 * that was not retried away.
 */
export async function callUpstream<R extends ResponseLike>(
  fetchLike: FetchLike<R>,
  request: UpstreamRequest,
  policy: UpstreamPolicy = DEFAULT_UPSTREAM_POLICY,
  deps: Partial<UpstreamDeps> = {},
): Promise<R> {
  const { sleep, random, onRetry } = { ...defaultDeps, ...deps };
  const retryable = isRetryableRequest(request);
  const maxAttempts = retryable ? policy.retryMax + 1 : 1;
  for (let attempt = 0; ; attempt++) {
    let outcome: { res: R } | { err: unknown };
    try {
      outcome = { res: await attemptOnce(fetchLike, request, policy.timeoutMs) };
    } catch (err) {
      outcome = { err };
    }
    const last = attempt + 1 >= maxAttempts || request.signal?.aborted;
    if ('res' in outcome) {
      if (!isRetryableStatus(outcome.res.status) || last) return outcome.res;
      if (request.surfaceBackPressure && isBackPressure(outcome.res)) return outcome.res;
    } else if (last) {
      throw outcome.err;
    }
    let delayMs = backoffDelayMs(attempt, policy, random);
    if ('res' in outcome) {
      // Honour a server's explicit Retry-After, within our own ceiling.
      const hinted = retryAfterMs(outcome.res);
      if (hinted !== undefined) delayMs = Math.min(policy.maxBackoffMs, Math.max(delayMs, hinted));
    }
    const reason =
      'res' in outcome ? `status ${outcome.res.status}` : String((outcome.err as Error)?.message ?? outcome.err);
    onRetry?.({ attempt: attempt + 1, delayMs, reason });
    await sleep(delayMs);
  }
}

async function attemptOnce<R extends ResponseLike>(
  fetchLike: FetchLike<R>,
  request: UpstreamRequest,
  timeoutMs: number,
): Promise<R> {
  if (request.signal?.aborted) throw request.signal.reason ?? new Error('aborted');
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new UpstreamTimeoutError(request.url, timeoutMs));
  }, timeoutMs);
  const onOuterAbort = () => controller.abort(request.signal?.reason);
  request.signal?.addEventListener('abort', onOuterAbort, { once: true });
  try {
    const init: Parameters<FetchLike>[1] = { method: request.method, signal: controller.signal };
    if (request.headers) init.headers = request.headers;
    if (request.body !== undefined) init.body = request.body;
    // Race the abort too: a transport that ignores its signal must not hang the caller past the timeout.
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
      if (controller.signal.aborted) reject(controller.signal.reason);
    });
    aborted.catch(() => {});
    return await Promise.race([fetchLike(request.url, init), aborted]);
  } catch (err) {
    if (timedOut) throw new UpstreamTimeoutError(request.url, timeoutMs);
    throw err;
  } finally {
    clearTimeout(timer);
    request.signal?.removeEventListener('abort', onOuterAbort);
  }
}
