/**
 * The daily summary on moto from a seeded fleet: devices with errors (raised, changed, cleared), one offline,
 * recoveries, an opened circuit, a dead letter, an aborted rollout. One message a day through the alert topic
 * (level 1 / INFO), its content asserted; an empty fleet says all clear in one line, or nothing when silent.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';

let fx: ApiFixture;
let svc: typeof import('../../../functions/services/daily-summary.js');
let recordEvent: typeof import('../../../functions/adapters/events.js').recordEvent;
let markStateOffline: typeof import('../../../functions/adapters/devices-repo.js').markStateOffline;
const sqs = new SQSClient({});
const tokens: Record<string, string> = {};
const seqs: Record<string, number> = {};
const settings = { time: '00:00', timezone: 'Europe/Paris', allClear: 'post' as const };

before(async () => {
  fx = await createApiFixture();
  svc = await import('../../../functions/services/daily-summary.js');
  ({ recordEvent } = await import('../../../functions/adapters/events.js'));
  ({ markStateOffline } = await import('../../../functions/adapters/devices-repo.js'));
});
after(async () => {
  sqs.destroy();
  await fx.close();
});

type Err = { type: string; message: string } | null;
async function report(deviceId: string, services: [string, Err][], restarts?: [number, number]) {
  tokens[deviceId] ??= await fx.register(deviceId);
  seqs[deviceId] = (seqs[deviceId] ?? 0) + 1;
  const res = await fx.device({
    method: 'POST',
    path: `/v1/devices/${deviceId}/reports`,
    token: tokens[deviceId],
    body: {
      deviceId,
      seq: seqs[deviceId],
      kind: 'full',
      agentVersion: '1',
      uptimeSeconds: seqs[deviceId],
      sentAt: new Date().toISOString(),
      services: services.map(([name, error]) => ({
        name,
        image: `lab/${name}:1`,
        status: error ? 'error' : 'running',
        error: error ? { ...error, timestamp: '2026-01-01T00:00:00.000Z', retryCount: 1, nextRetry: null } : null,
      })),
      ...(restarts
        ? { recoveries: { epoch: 'e', counts: [{ strategy: 'restart', succeeded: restarts[0], failed: restarts[1] }] } }
        : {}),
    },
  });
  assert.equal(res.status, 200, res.raw);
}

async function published(): Promise<{ alertName: string; level: number; severity: string; summary: string }[]> {
  const out = [];
  for (;;) {
    const res = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: fx.infra.env.ALERTS_QUEUE_URL,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
      }),
    );
    if (!res.Messages?.length) break;
    for (const m of res.Messages) out.push(JSON.parse(JSON.parse(m.Body!).Message));
  }
  return out.filter((e) => e.alertName === 'DailySummary');
}

test('an empty fleet: a one-line all-clear, or nothing when configured silent; once a day', async () => {
  const day = 86_400_000;
  const clear = await svc.maybeSendDailySummary(Date.now() - 3 * day, settings);
  assert.equal(clear.action, 'sent');
  assert.match(
    (clear as { text: string }).text,
    /^Fleet daily summary \d{4}-\d\d-\d\d \(Europe\/Paris, last 24 h\): all clear\.$/,
  );
  assert.equal((await svc.maybeSendDailySummary(Date.now() - 3 * day, settings)).action, 'already-sent');
  // Another container (no memory of the claim) finds it in the table: still sent once.
  const { claimSummaryDay } = await import('../../../functions/adapters/summary-claims.js');
  assert.equal(await claimSummaryDay((clear as { day: string }).day, Date.now()), false);
  const silent = await svc.maybeSendDailySummary(Date.now() - 2 * day, { ...settings, allClear: 'silent' });
  assert.equal(silent.action, 'silent');
  const sent = await published();
  assert.equal(sent.length, 1, 'one message: the silent day sent none');
  assert.equal(sent[0]!.level, 1);
  assert.equal(sent[0]!.severity, 'INFO');
});

test('a seeded fleet: every topic counted from keys, worst devices first', async () => {
  const pull = { type: 'ImagePullBackOff', message: 'manifest unknown' };
  const crash = { type: 'CrashLoopBackOff', message: 'exit 1' };
  await report(
    'd-1',
    [
      ['web', pull],
      ['db', null],
    ],
    [2, 0],
  );
  await report(
    'd-1',
    [
      ['web', crash],
      ['db', pull],
    ],
    [4, 2],
  ); // changed + raised
  await report('d-2', [['web', pull]]);
  await report('d-3', [['web', crash]]);
  await report('d-3', [['web', null]]); // cleared: not counted as an error
  await report('d-4', [['web', null]]);
  await markStateOffline('d-4', Date.now());
  await recordEvent({ type: 'circuit.opened', deviceId: 'd-2' });
  await recordEvent({ type: 'rollout.aborted', detail: { rolloutId: 'r-1' } });
  await recordEvent({ type: 'rollout.completed', detail: { rolloutId: 'r-0' } });
  await sqs.send(new SendMessageCommand({ QueueUrl: fx.infra.env.JOBS_DLQ_URL, MessageBody: '{"jobId":"job_x"}' }));

  const r = await svc.maybeSendDailySummary(Date.now(), settings);
  assert.equal(r.action, 'sent');
  const text = (r as { text: string }).text;
  assert.deepEqual(text.split('\n').slice(1), [
    '• Devices offline now: 1',
    '• Service errors: 5 (ImagePullBackOff 3, CrashLoopBackOff 2); worst: d-1 (3), d-2 (1), d-3 (1)',
    '• Recoveries: 6 attempts, 66.7 % succeeded (restart 4/6)',
    '• Circuits opened: 1',
    '• Dead letters waiting: jobs 1, alerts 0',
    '• Rollouts finished: 1 completed, 1 aborted',
  ]);
  assert.equal((await svc.maybeSendDailySummary(Date.now(), settings)).action, 'already-sent');
  const sent = await published();
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.summary, text);
});
