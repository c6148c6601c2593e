/**
 * Table-driven bad input over EVERY route of the route table, through the real handlers on moto:
 * malformed JSON, wrong types, unknown fields, oversize bodies, wrong content type, missing/wrong tokens,
 * cross-device access, bad path/query parameters. Each answers the precise status and error code with an
 * `{error, message, details?}` body, and nothing is written (every table and the queue compared before/after).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ErrorBody } from '../../../functions/contract/common.js';
import { maxBodyBytes, routes, type RouteDef } from '../../../functions/contract/routes.js';
import type { ApiCall } from '../../support/apigw.js';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
let tokenX = '';
let tokenY = '';
let jobX = '';
before(async () => {
  fx = await createApiFixture();
  tokenX = await fx.register('dev-x');
  tokenY = await fx.register('dev-y');
  const enq = await fx.operator({
    method: 'POST',
    path: '/v1/devices/dev-x/jobs',
    body: { type: 'restart-service', params: { service: 'web' } },
  });
  jobX = enq.body.jobId;
});
after(() => fx.close());

interface Case {
  name: string;
  op: string;
  call: () => ApiCall;
  status: number;
  error: string;
}

const report = (deviceId: string) => ({
  deviceId,
  seq: 1,
  kind: 'full',
  agentVersion: '1',
  uptimeSeconds: 1,
  sentAt: '2025-01-01T00:00:00Z',
  services: [],
});

/** A rollout id nobody created: the valid requests for its routes answer 404 (and write nothing). */
const ROLLOUT = 'ro_0000000000AAAAAAAAAAAAAA';
const rollout = (over: Record<string, unknown>) => ({
  deviceIds: ['dev-x'],
  target: { services: { web: { image: 'lab/busybox:2' } } },
  canary: { count: 1 },
  waves: { perMinute: 10 },
  abortCriteria: { failurePercent: 20 },
  ...over,
});

/** A valid request per route (path with real ids, a valid body), from which each case deviates in one way. */
const valid: Record<string, () => { path: string; body?: unknown; query?: Record<string, string> }> = {
  getHealth: () => ({ path: '/v1/health' }),
  postReport: () => ({ path: '/v1/devices/dev-x/reports', body: report('dev-x') }),
  syncDevice: () => ({ path: '/v1/devices/dev-x/sync', body: { report: report('dev-x') } }),
  getPendingJobs: () => ({ path: '/v1/devices/dev-x/jobs/pending' }),
  updateJobExecution: () => ({
    path: `/v1/devices/dev-x/jobs/${jobX}`,
    body: { status: 'IN_PROGRESS', expectedVersion: 1 },
  }),
  getTargetState: () => ({ path: '/v1/devices/dev-x/target' }),
  renewDeviceToken: () => ({ path: '/v1/devices/dev-x/token/renew' }),
  decommissionDevice: () => ({ path: '/v1/devices/dev-x' }),
  rotateDeviceToken: () => ({ path: '/v1/devices/dev-x/token/rotate', body: { overlapSeconds: 60 } }),
  registerDevice: () => ({ path: '/v1/devices', body: { deviceId: 'dev-new' } }),
  listDevices: () => ({ path: '/v1/devices' }),
  getDevice: () => ({ path: '/v1/devices/dev-x' }),
  putTargetState: () => ({ path: '/v1/devices/dev-x/target', body: { services: { web: { image: 'lab/busybox:1' } } } }),
  enqueueJob: () => ({ path: '/v1/devices/dev-x/jobs', body: { type: 'restart-service', params: { service: 'web' } } }),
  getJob: () => ({ path: `/v1/jobs/${jobX}` }),
  cancelJob: () => ({ path: `/v1/jobs/${jobX}/cancel` }),
  retryJob: () => ({ path: `/v1/jobs/${jobX}/retry` }),
  deadLetterJob: () => ({ path: `/v1/jobs/${jobX}/dead-letter`, body: { reason: 'device replaced' } }),
  resetAllCircuits: () => ({ path: '/v1/circuits/reset', body: { dryRun: true } }),
  getRecoveryStats: () => ({ path: '/v1/stats/recoveries' }),
  getRecentEvents: () => ({ path: '/v1/events/recent' }),
  resetCircuit: () => ({ path: '/v1/devices/dev-x/circuit/reset' }),
  setMarker: () => ({ path: '/v1/devices/dev-x/markers', body: { durationSeconds: 600 } }),
  deleteMarker: () => ({ path: '/v1/devices/dev-x/markers' }),
  listDeadLetters: () => ({ path: '/v1/dlq' }),
  redriveDeadLetters: () => ({ path: '/v1/dlq/redrive', body: { dryRun: true } }),
  putRegistryCredential: () => ({
    path: '/v1/registry-credentials/lab',
    body: { registry: '127.0.0.1:5001', username: 'lab', password: 'pw' },
  }),
  deleteRegistryCredential: () => ({ path: '/v1/registry-credentials/lab' }),
  createSilence: () => ({
    path: '/v1/silences',
    body: { matchers: [{ name: 'deviceId', value: 'dev-x' }], durationSeconds: 600, comment: 'maintenance' },
  }),
  listSilences: () => ({ path: '/v1/silences' }),
  expireSilence: () => ({ path: '/v1/silences/sil_0000000000AAAAAAAAAAAAAA' }),
  createRollout: () => ({ path: '/v1/rollouts', body: rollout({}) }),
  listRollouts: () => ({ path: '/v1/rollouts' }),
  getRollout: () => ({ path: `/v1/rollouts/${ROLLOUT}` }),
  pauseRollout: () => ({ path: `/v1/rollouts/${ROLLOUT}/pause` }),
  resumeRollout: () => ({ path: `/v1/rollouts/${ROLLOUT}/resume` }),
  abortRollout: () => ({ path: `/v1/rollouts/${ROLLOUT}/abort`, body: { reason: 'wrong image' } }),
};

/** One wrong-typed body per body route. */
const wrongTypes: Record<string, () => unknown> = {
  createSilence: () => ({ matchers: [{ name: 'site', op: '==', value: 1 }], durationSeconds: '600', comment: 7 }),
  postReport: () => ({ ...report('dev-x'), seq: 'five', services: [{ name: 'web', image: 'x', status: 'exploded' }] }),
  updateJobExecution: () => ({ status: 'DONE', expectedVersion: '1' }),
  syncDevice: () => ({ report: { ...report('dev-x'), seq: 'five' }, targetEtag: 7 }),
  registerDevice: () => ({ deviceId: 42 }),
  putTargetState: () => ({ services: [] }),
  enqueueJob: () => ({ type: 'reboot-planet', params: {} }),
  setMarker: () => ({ durationSeconds: 'a while', kind: 'forever' }),
  rotateDeviceToken: () => ({ overlapSeconds: '60' }),
  redriveDeadLetters: () => ({ dryRun: 'yes', ratePerSecond: 0 }),
  putRegistryCredential: () => ({ registry: 'not a host!', username: 7, password: '' }),
  createRollout: () => ({ selector: 'site=north', target: {}, canary: { count: '1' }, waves: { perMinute: 'fast' } }),
  abortRollout: () => ({ reason: 42 }),
  deadLetterJob: () => ({ reason: 7 }),
  resetAllCircuits: () => ({ dryRun: 'yes', confirm: 1 }),
};

/** Further invalid bodies per body route: values out of their bounds. */
const silence = (over: Record<string, unknown>) => ({
  matchers: [{ name: 'deviceId', value: 'dev-x' }],
  durationSeconds: 600,
  comment: 'maintenance',
  ...over,
});
const badBodies: Record<string, Record<string, unknown>[]> = {
  createSilence: [
    silence({ matchers: [] }),
    silence({ matchers: [{ name: 'deviceId', op: '=~', value: '.*' }] }),
    silence({ matchers: [{ name: 'alertName', op: '!=', value: 'CircuitOpen' }] }),
    silence({ matchers: [{ name: 'deviceId', op: '=~', value: '(unclosed' }] }),
    silence({ durationSeconds: 30 }),
    silence({ durationSeconds: 31 * 86400 }),
    silence({ comment: '' }),
  ],
  syncDevice: [
    { report: { ...report('dev-x'), uptimeSeconds: 1e200 } },
    { report: report('dev-x'), targetEtag: 'x'.repeat(161) },
    {},
  ],
  rotateDeviceToken: [
    { overlapSeconds: -1 },
    { overlapSeconds: 7 * 86400 + 1 },
    { overlapSeconds: 1.5 },
    { overlapSeconds: null },
  ],
  createRollout: [
    rollout({ selector: { site: 'north' } }),
    rollout({ deviceIds: undefined }),
    rollout({ deviceIds: [] }),
    rollout({ deviceIds: undefined, selector: {} }),
    rollout({ canary: { count: 1, percent: 10 } }),
    rollout({ canary: {} }),
    rollout({ canary: { percent: 0 } }),
    rollout({ canary: { percent: 101 } }),
    rollout({ waves: { perMinute: 0 } }),
    rollout({ waves: { perMinute: 10, factor: 0.5 } }),
    rollout({ abortCriteria: { minFinished: 3 } }),
    rollout({ abortCriteria: { failurePercent: 0 } }),
    rollout({ abortCriteria: { failureCount: 0 } }),
    rollout({ onAbort: 'panic' }),
    rollout({ deviceTimeoutSeconds: 10 }),
    rollout({ jobType: 'restart-service' }),
    rollout({ job: { type: 'restart-service', params: { service: 'web' } } }),
    rollout({ target: undefined }),
    rollout({ target: undefined, job: { type: 'reboot', params: {} } }),
    rollout({ target: undefined, job: { type: 'restart-service', params: { service: 'web', force: true } } }),
    rollout({ target: undefined, job: { type: 'pull-image', params: {} } }),
    rollout({ target: undefined, job: { type: 'retry-now', params: {}, inProgressTimeoutSeconds: 86_401 } }),
  ],
  abortRollout: [{ reason: '' }, { reason: 'x'.repeat(501) }, { why: 'because' }],
  deadLetterJob: [{ reason: '' }, { reason: '   ' }, { reason: 'x'.repeat(501) }, {}],
  // A real reset without confirm: true is refused (400) and writes nothing.
  resetAllCircuits: [{}, { dryRun: false }, { confirm: false }, { all: true }],
  enqueueJob: [
    { type: 'restart-service', params: { service: 'web' }, inProgressTimeoutSeconds: 9 },
    { type: 'restart-service', params: { service: 'web' }, inProgressTimeoutSeconds: 86_401 },
    { type: 'pull-image', params: { image: 'lab/busybox:1' }, inProgressTimeoutSeconds: 0 },
    { type: 'restart-service', params: { service: 'web' }, inProgressTimeoutSeconds: 20.5 },
    { type: 'restart-service', params: { service: 'web' }, inProgressTimeoutSeconds: '20' },
  ],
};

/** Bad path parameters per operator route with parameters (device routes answer 403 first: see cross-device). */
const badPaths: Record<string, string> = {
  getDevice: '/v1/devices/BAD_ID!',
  decommissionDevice: '/v1/devices/BAD_ID!',
  rotateDeviceToken: '/v1/devices/BAD_ID!/token/rotate',
  putTargetState: '/v1/devices/BAD_ID!/target',
  enqueueJob: '/v1/devices/BAD_ID!/jobs',
  getJob: '/v1/jobs/not-a-job',
  cancelJob: '/v1/jobs/not-a-job/cancel',
  retryJob: '/v1/jobs/not-a-job/retry',
  deadLetterJob: '/v1/jobs/not-a-job/dead-letter',
  resetCircuit: '/v1/devices/BAD_ID!/circuit/reset',
  setMarker: '/v1/devices/BAD_ID!/markers',
  deleteMarker: '/v1/devices/BAD_ID!/markers',
  updateJobExecution: '/v1/devices/dev-x/jobs/not-a-job',
  putRegistryCredential: '/v1/registry-credentials/Bad_Name!',
  deleteRegistryCredential: '/v1/registry-credentials/Bad_Name!',
  expireSilence: '/v1/silences/not-a-silence',
  getRollout: '/v1/rollouts/not-a-rollout',
  pauseRollout: '/v1/rollouts/ro_short/pause',
  resumeRollout: '/v1/rollouts/RO_0000000000AAAAAAAAAAAAAA/resume',
  abortRollout: '/v1/rollouts/not-a-rollout/abort',
};

const badQueries: Record<string, Record<string, string>[]> = {
  getHealth: [{ deep: 'yes' }, { deep: '2' }],
  listDevices: [{ limit: '0' }, { limit: 'many' }],
  getRecentEvents: [{ limit: '9999' }, { deviceId: 'BAD_ID!' }],
  deleteMarker: [{ service: 'x'.repeat(64) }],
  listDeadLetters: [{ queue: 'nope' }, { max: '-1' }],
  listRollouts: [{ limit: '0' }, { limit: '101' }, { nextToken: 'not a token!' }],
};

function casesFor(route: RouteDef): Case[] {
  const op = route.operationId;
  const base = valid[op];
  assert.ok(base, `no valid request defined for ${op}`);
  const who = route.auth === 'device' ? tokenXRef : route.auth === 'operator' ? operatorRef : undefined;
  const call =
    (over: Partial<ApiCall> = {}): (() => ApiCall) =>
    () => {
      const b = base();
      return {
        method: route.method,
        path: b.path,
        ...(b.body !== undefined ? { body: b.body } : {}),
        ...(b.query ? { query: b.query } : {}),
        ...(who ? { token: who() } : {}),
        ...over,
      };
    };
  const out: Case[] = [];
  const add = (name: string, c: () => ApiCall, status: number, error: string) =>
    out.push({ name: `${op}: ${name}`, op, call: c, status, error });

  if (route.auth !== 'public') {
    add('missing token', call({ token: undefined }), 401, 'unauthorized');
    add(
      'wrong token',
      call({ token: route.auth === 'device' ? `dev-x.${'W'.repeat(43)}` : 'not-the-operator-token' }),
      401,
      'unauthorized',
    );
  }
  if (route.auth === 'device') {
    add('operator token on a device route', call({ token: fx.operatorToken }), 401, 'unauthorized');
    add('another device’s token (cross-device)', call({ token: tokenY }), 403, 'forbidden');
    add(
      'own token on another device’s path',
      call({
        path: base().path.replace('/dev-x/', '/dev-y/'),
        ...(route.body
          ? {
              body:
                op === 'postReport' ? report('dev-y') : op === 'syncDevice' ? { report: report('dev-y') } : base().body,
            }
          : {}),
      }),
      403,
      'forbidden',
    );
  }
  if (route.auth === 'operator')
    add('a device token on an operator route', call({ token: tokenXRef() }), 401, 'unauthorized');
  if (route.body) {
    add('malformed JSON', call({ body: '{"deviceId": "dev-x",' }), 400, 'invalid_json');
    add('empty body', call({ body: '' }), 400, 'invalid_json');
    add('non-JSON content type', call({ headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
    add('wrong types', call({ body: wrongTypes[op]!() }), 400, 'validation_failed');
    add(
      'unknown field (strict)',
      call({ body: { ...(base().body as object), sneaky: true } }),
      400,
      'validation_failed',
    );
    add('JSON array instead of object', call({ body: [] }), 400, 'validation_failed');
    for (const b of badBodies[op] ?? [])
      add(`bad body ${JSON.stringify(b).slice(-40)}`, call({ body: b }), 400, 'validation_failed');
  }
  // Oversize: one byte over the route's limit (16 KiB default) is refused before parsing.
  const limit = maxBodyBytes(route);
  add(`body over ${limit} bytes`, call({ body: JSON.stringify({ pad: 'x'.repeat(limit) }) }), 413, 'payload_too_large');
  add(
    `base64 body over ${limit} bytes`,
    call({ body: JSON.stringify({ pad: 'x'.repeat(limit) }), base64: true }),
    413,
    'payload_too_large',
  );
  if (badPaths[op]) add('bad path parameter', call({ path: badPaths[op] }), 400, 'validation_failed');
  for (const q of badQueries[op] ?? [])
    add(`bad query ${JSON.stringify(q).slice(0, 40)}`, call({ query: q }), 400, 'validation_failed');
  add('unsupported method on the path', call({ method: 'PATCH' }), 405, 'method_not_allowed');
  return out;
}
const tokenXRef = () => tokenX;
const operatorRef = () => fx.operatorToken;

test('every route answers bad input with a precise 4xx and writes nothing', async () => {
  const cases = (routes as readonly RouteDef[]).flatMap(casesFor);
  // Coverage: every route of the table is in the table of cases.
  assert.deepEqual(new Set(cases.map((c) => c.op)), new Set(routes.map((r) => r.operationId)));
  const snapshot = await fx.snapshot();
  const failures: string[] = [];
  for (const c of cases) {
    const req = c.call();
    const res =
      req.method === 'PATCH' || routes.find((r) => r.operationId === c.op)!.fn === 'operator-api'
        ? await fx.operator(req)
        : await fx.device(req);
    const shape = ErrorBody.safeParse(res.body);
    if (res.status !== c.status || res.body?.error !== c.error || !shape.success || !res.body.message) {
      failures.push(`${c.name}: expected ${c.status} ${c.error}, got ${res.status} ${res.raw?.slice(0, 200)}`);
      continue;
    }
    if ((await fx.snapshot()) !== snapshot) failures.push(`${c.name}: something was written`);
  }
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases failed`);
  assert.ok(cases.length > 100, `${cases.length} cases`);
});

test('validation errors say where and why', async () => {
  const res = await fx.device({
    method: 'POST',
    path: '/v1/devices/dev-x/reports',
    token: tokenX,
    body: { ...report('dev-x'), seq: -1, services: [{ name: 'Web!', image: 'x', status: 'running' }], extra: 1 },
  });
  assert.equal(res.status, 400);
  const where = res.body.details.issues.map((i: { in: string; path: string }) => `${i.in}:${i.path}`);
  assert.ok(where.includes('body:seq'), where.join(' '));
  assert.ok(where.includes('body:services.0.name'), where.join(' '));
  assert.ok(res.body.details.issues.some((i: { code: string }) => i.code === 'unrecognized_keys'));
  const size = await fx.device({
    method: 'POST',
    path: '/v1/devices/dev-x/reports',
    token: tokenX,
    body: JSON.stringify({ pad: 'x'.repeat(70 * 1024) }),
  });
  assert.equal(size.status, 413);
  assert.equal(size.body.details.limitBytes, 64 * 1024);
});
