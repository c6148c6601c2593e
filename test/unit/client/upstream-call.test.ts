/** Upstream-call policy with an injected transport, sleep and randomness (no network, no real waiting). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  UpstreamTimeoutError,
  backoffDelayMs,
  callUpstream,
  isRetryableRequest,
  upstreamPolicyFromEnv,
  type FetchLike,
  type ResponseLike,
  type UpstreamPolicy,
} from '../../../functions/client/upstream-call.js';

const policy: UpstreamPolicy = { timeoutMs: 50, retryMax: 3, retryBackoffMs: 100, maxBackoffMs: 1000 };
const res = (status: number, headers: Record<string, string> = {}): ResponseLike => ({
  status,
  headers: { get: (n) => headers[n.toLowerCase()] ?? null },
});

function script(steps: (number | 'error' | 'hang')[]) {
  const calls: { method: string; signal: AbortSignal }[] = [];
  const fetchLike: FetchLike = async (_url, init) => {
    calls.push({ method: init.method, signal: init.signal });
    const step = steps[Math.min(calls.length - 1, steps.length - 1)]!;
    if (step === 'error') throw new Error('ECONNRESET');
    if (step === 'hang') return new Promise<never>(() => {});
    return res(step);
  };
  return { fetchLike, calls };
}
const deps = () => {
  const sleeps: number[] = [];
  return { sleeps, sleep: async (ms: number) => void sleeps.push(ms), random: () => 0.5 };
};

test('GET retries 5xx and network errors with full-jitter exponential backoff, then succeeds', async () => {
  const { fetchLike, calls } = script([503, 'error', 200]);
  const d = deps();
  const out = await callUpstream(fetchLike, { url: 'http://x/a', method: 'GET' }, policy, d);
  assert.equal(out.status, 200);
  assert.equal(calls.length, 3);
  assert.deepEqual(d.sleeps, [50, 100], 'random 0.5 × 100·2^n');
});

test('retries stop after RETRY_MAX and return the last response', async () => {
  const { fetchLike, calls } = script([500]);
  const d = deps();
  const out = await callUpstream(fetchLike, { url: 'http://x', method: 'GET' }, policy, d);
  assert.equal(out.status, 500);
  assert.equal(calls.length, 4);
  assert.deepEqual(d.sleeps, [50, 100, 200]);
});

test('POST never retries: a failure surfaces at once', async () => {
  const { fetchLike, calls } = script(['error']);
  const d = deps();
  await assert.rejects(
    callUpstream(fetchLike, { url: 'http://x', method: 'POST', body: '{}', idempotent: true }, policy, d),
    /ECONNRESET/,
  );
  assert.equal(calls.length, 1);
  const five = script([503]);
  assert.equal((await callUpstream(five.fetchLike, { url: 'http://x', method: 'POST' }, policy, d)).status, 503);
  assert.equal(five.calls.length, 1);
  assert.deepEqual(d.sleeps, []);
});

test('PUT retries only when declared idempotent', async () => {
  const plain = script([502, 200]);
  assert.equal((await callUpstream(plain.fetchLike, { url: 'http://x', method: 'PUT' }, policy, deps())).status, 502);
  const declared = script([502, 200]);
  assert.equal(
    (await callUpstream(declared.fetchLike, { url: 'http://x', method: 'PUT', idempotent: true }, policy, deps()))
      .status,
    200,
  );
  assert.deepEqual(
    ['GET', 'HEAD', 'OPTIONS', 'POST', 'PATCH', 'PUT', 'DELETE'].map((m) => isRetryableRequest({ method: m })),
    [true, true, true, false, false, false, false],
  );
});

test('4xx other than 429 is an answer, not a failure: no retry', async () => {
  const { fetchLike, calls } = script([404]);
  assert.equal((await callUpstream(fetchLike, { url: 'http://x', method: 'GET' }, policy, deps())).status, 404);
  assert.equal(calls.length, 1);
});

test('each attempt is aborted after TIMEOUT_MS, even if the transport ignores its signal', async () => {
  const { fetchLike, calls } = script(['hang']);
  const d = deps();
  const started = Date.now();
  await assert.rejects(
    callUpstream(fetchLike, { url: 'http://x/slow', method: 'GET' }, { ...policy, retryMax: 1 }, d),
    (e) => e instanceof UpstreamTimeoutError && /50 ms/.test(e.message),
  );
  assert.equal(calls.length, 2);
  assert.ok(calls.every((c) => c.signal.aborted));
  assert.ok(Date.now() - started < 1000);
});

test('Retry-After from the server is honoured within the ceiling', async () => {
  let n = 0;
  const fetchLike: FetchLike = async () => (n++ === 0 ? res(429, { 'retry-after': '0.4' }) : res(200));
  const d = deps();
  assert.equal((await callUpstream(fetchLike, { url: 'http://x', method: 'GET' }, policy, d)).status, 200);
  assert.deepEqual(d.sleeps, [400]);
});

test('surfaceBackPressure: a GET meeting 429, or 503 with Retry-After, comes back at once; a bare 503 is still retried', async () => {
  for (const first of [res(429, { 'retry-after': '30' }), res(429), res(503, { 'retry-after': '30' })]) {
    let n = 0;
    const d = deps();
    const out = await callUpstream(
      async () => (n++ === 0 ? first : res(200)),
      { url: 'http://x/a', method: 'GET', surfaceBackPressure: true },
      policy,
      d,
    );
    assert.equal(out.status, first.status);
    assert.equal(n, 1, 'not retried in place: the caller waits the advertised time');
    assert.deepEqual(d.sleeps, []);
  }
  let n = 0;
  const out = await callUpstream(
    async () => (n++ === 0 ? res(503) : res(200)),
    { url: 'http://x/a', method: 'GET', surfaceBackPressure: true },
    policy,
    deps(),
  );
  assert.equal(out.status, 200);
  assert.equal(n, 2);
});

test('an outer abort cancels the attempt in flight and stops retrying', async () => {
  const outer = new AbortController();
  const { fetchLike, calls } = script(['hang']);
  const d = deps();
  setTimeout(() => outer.abort(new Error('shutting down')), 5);
  await assert.rejects(
    callUpstream(
      fetchLike,
      { url: 'http://x', method: 'GET', signal: outer.signal },
      { ...policy, timeoutMs: 5000 },
      d,
    ),
    /shutting down/,
  );
  assert.equal(calls.length, 1);
  assert.deepEqual(d.sleeps, []);
  const already = script([200]);
  await assert.rejects(
    callUpstream(already.fetchLike, { url: 'http://x', method: 'GET', signal: outer.signal }, policy, d),
    /shutting down/,
  );
  assert.equal(already.calls.length, 0, 'nothing is sent once aborted');
});

test('backoff is capped and policy comes from the environment', () => {
  assert.equal(
    backoffDelayMs(20, policy, () => 0.999999),
    999,
  );
  assert.equal(
    backoffDelayMs(0, policy, () => 0),
    0,
  );
  assert.deepEqual(upstreamPolicyFromEnv({ TIMEOUT_MS: '1500', RETRY_MAX: '2', RETRY_BACKOFF_MS: '50' }), {
    timeoutMs: 1500,
    retryMax: 2,
    retryBackoffMs: 50,
    maxBackoffMs: 10_000,
  });
  assert.equal(upstreamPolicyFromEnv({}).timeoutMs, 3000);
  assert.throws(() => upstreamPolicyFromEnv({ RETRY_MAX: 'lots' }), /RETRY_MAX/);
});
