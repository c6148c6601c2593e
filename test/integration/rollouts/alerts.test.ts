/**
 * A rollout that ends badly tells on-call once, through the real alert path on moto (dedupe record, SNS topic,
 * the alerts queue subscribed to it): an abort by a criterion names the rollout, the criterion's value against
 * its limit and the failures grouped by cause with sample devices; a completion with failed devices says so; an
 * operator's abort raises nothing. Once: with controllers racing, with runs repeated, and when a run died between
 * the rollout's final status and its alert (the next run raises it).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { PurgeQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { getRollout, setStatus } from '../../../functions/adapters/rollouts-repo.js';
import { TargetState } from '../../../functions/contract/target-state.js';
import { AlertEvent } from '../../../functions/domain/alerting/event.js';
import { announceRolloutEnd } from '../../../functions/services/rollout-alerts.js';
import {
  actOnRollout,
  advanceActiveRollouts,
  advanceRollout,
  createRollout,
  type CreateRolloutInput,
} from '../../../functions/services/rollouts.js';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';
import { receiveMessages } from '../../support/alerting.js';

let fx: ApiFixture;
const sqs = new SQSClient({});
const tokens = new Map<string, string>();
const seqs = new Map<string, number>();

before(async () => {
  fx = await createApiFixture();
});
after(async () => {
  sqs.destroy();
  await fx.close();
});
beforeEach(() => sqs.send(new PurgeQueueCommand({ QueueUrl: fx.infra.env.ALERTS_QUEUE_URL! })));

/** The rollout alerts published since the last call (device alerts the reports raise are left out). */
async function rolloutAlerts(waitMs = 1500): Promise<AlertEvent[]> {
  const msgs = await receiveMessages(fx.infra.env.ALERTS_QUEUE_URL!, { max: 10, waitMs });
  await sqs.send(new PurgeQueueCommand({ QueueUrl: fx.infra.env.ALERTS_QUEUE_URL! }));
  return msgs
    .map((m) => AlertEvent.parse(JSON.parse(JSON.parse(m.Body!).Message)))
    .filter((e) => e.alertName.startsWith('Rollout'));
}

async function register(deviceId: string, group: string) {
  const res = await fx.operator<{ token: string }>({
    method: 'POST',
    path: '/v1/devices',
    body: { deviceId, labels: { group } },
  });
  assert.equal(res.status, 201, res.raw);
  tokens.set(deviceId, res.body.token);
  const put = await fx.operator({
    method: 'PUT',
    path: `/v1/devices/${deviceId}/target`,
    body: { services: { web: { image: 'lab/web:1' } } },
  });
  assert.equal(put.status, 200, put.raw);
  return put.body.version as string;
}

/** What an agent reports: the version it runs, a rollback it made, and the error its service shows. */
async function report(deviceId: string, s: { version: string; rolledBackFrom?: string; pullError?: string }) {
  const seq = (seqs.get(deviceId) ?? 0) + 1;
  seqs.set(deviceId, seq);
  const web = s.pullError
    ? {
        name: 'web',
        image: s.pullError,
        status: 'error',
        error: {
          type: 'ImagePullBackOff',
          message: `manifest unknown: ${s.pullError}`,
          timestamp: new Date().toISOString(),
          retryCount: 1,
          nextRetry: null,
          permanent: true,
        },
      }
    : // A device that took the rollout's target runs its image (here only some registries lack the tag).
      { name: 'web', image: 'lab/web:missing', status: 'running' };
  const res = await fx.device({
    method: 'POST',
    path: `/v1/devices/${deviceId}/reports`,
    token: tokens.get(deviceId)!,
    body: {
      deviceId,
      seq,
      kind: 'full',
      agentVersion: '1.0.0',
      uptimeSeconds: seq,
      sentAt: new Date().toISOString(),
      targetVersion: s.version,
      ...(s.rolledBackFrom ? { rolledBackFrom: s.rolledBackFrom } : {}),
      services: [web],
    },
  });
  assert.equal(res.status, 200, res.raw);
}

function spec(group: string, over: Partial<CreateRolloutInput> = {}): CreateRolloutInput {
  return {
    selector: { group },
    target: TargetState.parse({ services: { web: { image: 'lab/web:missing' } }, rollbackWindowSeconds: 10 }),
    canary: { count: 3 },
    waves: { perMinute: 5, factor: 1 },
    abortCriteria: { failurePercent: 50, minFinished: 3 },
    onAbort: 'rollback',
    ...over,
  };
}

async function created(input: CreateRolloutInput, now: number) {
  const res = await createRollout(input, 'test', now);
  assert.equal(res.kind, 'created', JSON.stringify(res));
  return res.kind === 'created' ? res.rollout : assert.fail();
}

const S = 1000;
const MIN = 60 * S;

describe('RolloutAborted', () => {
  test('one alert naming the rollout, the criterion against its limit, the failures by cause with devices', async () => {
    const before: Record<string, string> = {};
    for (const id of ['ab1', 'ab2', 'ab3', 'ab4', 'ab5']) before[id] = await register(id, 'abort-alert');
    const t0 = Date.now();
    const r = await created(spec('abort-alert'), t0);
    const v = r.target!.version;
    await advanceRollout(r.rolloutId, 'c1', t0);
    // Two canary devices fail to pull the new image and roll back; the third takes it.
    for (const id of ['ab1', 'ab2'])
      await report(id, { version: before[id]!, rolledBackFrom: v, pullError: 'lab/web:missing' });
    await report('ab3', { version: v });

    // Controllers racing on the aborting run, then more runs: one alert.
    const outcomes = await Promise.all(['x', 'y', 'z'].map((o) => advanceRollout(r.rolloutId, o, t0 + 11 * S)));
    assert.equal(outcomes.filter((o) => o.kind === 'aborted').length, 1, JSON.stringify(outcomes));
    await advanceActiveRollouts(t0 + 2 * MIN);
    await advanceActiveRollouts(t0 + 3 * MIN);

    const alerts = await rolloutAlerts();
    assert.equal(alerts.length, 1, JSON.stringify(alerts));
    const a = alerts[0]!;
    assert.equal(a.alertName, 'RolloutAborted');
    assert.equal(a.severity, 'WARNING', 'rolled back: the fleet is safe, a person fixes the target');
    assert.equal(a.dedupeKey, `RolloutAborted:${r.rolloutId}`);
    assert.match(a.summary, new RegExp(`Rollout ${r.rolloutId} aborted: failurePercent met in canary`));
    assert.match(a.summary, /2 of 3 finished devices failed \(66\.7%\), limit 50% after 3/);
    assert.match(
      a.summary,
      /Failures by cause: rolled-back · ImagePullBackOff: web \(lab\/web:missing\) ×2 \(ab1, ab2\)/,
    );
    assert.equal(a.details.criterion, 'failurePercent');
    assert.equal(a.details.value, 66.7);
    assert.equal(a.details.limit, 50);
    assert.equal(a.details.pending, 2, 'the wave was never touched');
    assert.match(a.nextAction, new RegExp(`fleetmedic rollout status ${r.rolloutId}`));
    assert.ok(a.tried.some((t) => /previous target back/.test(t)));
    const end = (await getRollout(r.rolloutId))!;
    assert.equal(end.status, 'aborted');
    assert.ok(end.alertedAt, 'the rollout remembers it was announced');

    // Announcing again (a retry, another controller) raises nothing.
    await Promise.all([announceRolloutEnd(end, t0 + 4 * MIN), announceRolloutEnd(end, t0 + 4 * MIN)]);
    assert.deepEqual(await rolloutAlerts(500), []);
  });

  test('a run that died between the abort and its alert: the next run raises it, once', async () => {
    for (const id of ['cr1', 'cr2']) await register(id, 'crash-alert');
    const t0 = Date.now();
    const r = await created(spec('crash-alert', { onAbort: 'leave', canary: { count: 1 } }), t0);
    await advanceRollout(r.rolloutId, 'c1', t0);
    // The abort as a run stored it before dying: final status, no alert, still on the work list.
    assert.ok(
      await setStatus(r.rolloutId, 'active', 'aborted', {
        abort: {
          by: 'criterion',
          at: new Date(t0 + S).toISOString(),
          criterion: 'failureCount',
          scope: 'canary',
          detail: '1 devices failed, limit 1',
          value: 1,
          limit: 1,
          failures: [{ cause: 'timed-out', count: 1, sample: [{ deviceId: 'cr1' }] }],
        },
        finishedAt: new Date(t0 + S).toISOString(),
      }),
    );
    await Promise.all([advanceActiveRollouts(t0 + MIN), advanceActiveRollouts(t0 + MIN)]);
    await advanceActiveRollouts(t0 + 2 * MIN);
    const alerts = await rolloutAlerts();
    assert.equal(alerts.length, 1, JSON.stringify(alerts));
    assert.equal(alerts[0]!.severity, 'CRITICAL', 'devices left on the failing target');
    assert.match(alerts[0]!.summary, /timed-out ×1 \(cr1\)/);
  });

  test('an operator abort raises no alert', async () => {
    for (const id of ['op1', 'op2']) await register(id, 'operator-abort');
    const t0 = Date.now();
    const r = await created(spec('operator-abort', { canary: { count: 1 } }), t0);
    await advanceRollout(r.rolloutId, 'c1', t0);
    assert.equal((await actOnRollout(r.rolloutId, 'abort', 'op', t0 + S, 'wrong image')).kind, 'done');
    await advanceActiveRollouts(t0 + MIN);
    assert.equal((await getRollout(r.rolloutId))?.status, 'aborted');
    assert.deepEqual(await rolloutAlerts(500), []);
  });
});

describe('RolloutCompletedWithFailures', () => {
  test('a completion below the criteria with failed devices: one alert with the causes', async () => {
    const before: Record<string, string> = {};
    for (const id of ['cf1', 'cf2', 'cf3', 'cf4']) before[id] = await register(id, 'completed-failures');
    const t0 = Date.now();
    const r = await created(
      spec('completed-failures', { canary: { count: 4 }, abortCriteria: { failureCount: 2, minFinished: 1 } }),
      t0,
    );
    const v = r.target!.version;
    await advanceRollout(r.rolloutId, 'c1', t0);
    await report('cf1', { version: before.cf1!, rolledBackFrom: v, pullError: 'lab/web:missing' });
    for (const id of ['cf2', 'cf3', 'cf4']) await report(id, { version: v });
    const out = await advanceRollout(r.rolloutId, 'c1', t0 + 11 * S);
    assert.deepEqual(out, { kind: 'completed', failed: 1 });
    await advanceActiveRollouts(t0 + 2 * MIN);

    const alerts = await rolloutAlerts();
    assert.equal(alerts.length, 1, JSON.stringify(alerts));
    assert.equal(alerts[0]!.alertName, 'RolloutCompletedWithFailures');
    assert.equal(alerts[0]!.severity, 'WARNING');
    assert.match(alerts[0]!.summary, /completed with 1 failed of 4 devices \(3 succeeded, 0 skipped\)/);
    assert.match(alerts[0]!.summary, /rolled-back · ImagePullBackOff: web \(lab\/web:missing\) ×1 \(cf1\)/);
  });

  test('a completion without failures raises nothing', async () => {
    for (const id of ['ok1', 'ok2']) await register(id, 'completed-ok');
    const t0 = Date.now();
    const r = await created(spec('completed-ok', { canary: { count: 2 } }), t0);
    await advanceRollout(r.rolloutId, 'c1', t0);
    for (const id of ['ok1', 'ok2']) await report(id, { version: r.target!.version });
    assert.deepEqual(await advanceRollout(r.rolloutId, 'c1', t0 + 11 * S), { kind: 'completed', failed: 0 });
    assert.deepEqual(await rolloutAlerts(500), []);
  });
});
