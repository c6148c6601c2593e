/**
 * Alert routing in the local fleet (docs/runbook.md "How alerts reach you"): alerts published to the local alert
 * topic reach the receiver's per-level Slack channels through the real forwarder and the per-channel secrets the
 * fleet puts in local Secrets Manager, and the local pager (local/pager.ts: a queue subscribed with
 * ALERT_ROUTES.pager's filter, drained into the receiver's pager channel) gets level 3 and its resolution only.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startFleet, type Fleet } from '../../../local/fleet.js';
import { newOperatorToken, readSecret } from '../../../local/secrets.js';
import { publishAlertEvent } from '../../../functions/adapters/alert-publication.js';
import { decideRaise, resolvedEvent } from '../../../functions/domain/alerting/dedupe.js';
import { type AlertInput, toAlertEvent } from '../../../functions/domain/alerting/event.js';
import { ensureEmulator, type Emulator } from '../../support/moto.js';

let emulator: Emulator;
let fleet: Fleet;
const T = Date.now();
let n = 0;

before(async () => {
  emulator = await ensureEmulator();
  fleet = await startFleet({
    prefix: `pager${randomBytes(3).toString('hex')}`,
    operatorToken: newOperatorToken(),
    slackPrint: null,
    scheduleSeconds: 3600,
    pollWaitSeconds: 1,
    push: false,
    log: () => {},
  });
});
after(async () => {
  await fleet.close();
  await emulator.stop();
});

const input = (level: 2 | 3, summary: string, over: Partial<AlertInput> = {}): AlertInput => ({
  alertName: 'ServiceCrashLoop',
  level,
  deviceId: `dev-p${++n}`,
  service: 'web',
  summary,
  since: T - 60_000,
  ...over,
});
const publish = (i: AlertInput) =>
  publishAlertEvent(toAlertEvent(i, { notificationId: `p-${++n}-${T}`, now: Date.now() }));
const slack = () => fleet.slack!;
const on = (channel: string) =>
  slack()
    .messages.filter((m) => m.channel === channel)
    .map((m) => m.text);

test('the fleet wires per-level webhook secrets (ids in env, URLs only in Secrets Manager) and a pager', async () => {
  assert.equal(fleet.env.SLACK_WEBHOOK_CRITICAL_SECRET_ID, `${fleet.env.SLACK_WEBHOOK_SECRET_ID}-critical`);
  assert.equal(await readSecret(fleet.env.SLACK_WEBHOOK_CRITICAL_SECRET_ID!), slack().channelUrl('critical'));
  assert.equal(await readSecret(fleet.env.SLACK_WEBHOOK_WARNING_SECRET_ID!), slack().channelUrl('warning'));
  for (const v of Object.values(fleet.env)) assert.ok(!v.includes('/services/local/'), `no webhook URL in env: ${v}`);
  assert.ok(fleet.pager && fleet.pollers.pager, 'the pager queue is drained');
});

test('a level 3 alert and its resolution reach the pager; a level 2 alert does not', async () => {
  const page = input(3, 'broker down on every device #p3');
  await publish(input(2, 'web restarts #p2'));
  await publish(input(3, 'muted service fails #pmute', { notifyOnFail: false }));
  await publish(page);
  const resolution = resolvedEvent(decideRaise(undefined, page, T - 30_000).record, {
    notificationId: `p-res-${T}`,
    now: Date.now(),
    summary: 'broker back #p3r',
  });
  await publishAlertEvent(resolution);

  await slack().waitFor((m) => m.channel === 'pager' && m.text.includes('#p3r'), 30_000);
  await slack().waitFor((m) => m.channel === 'pager' && m.text.includes('#p3\n'), 30_000);
  // Slack: every alert, each on its level's channel (a resolution where its alert was).
  await slack().waitFor((m) => m.channel === 'warning' && m.text.includes('#p2'), 30_000);
  await slack().waitFor((m) => m.channel === 'critical' && m.text.includes('#pmute'), 30_000);
  await slack().waitFor((m) => m.channel === 'critical' && m.text.includes('#p3r'), 30_000);
  await slack().waitFor((m) => m.channel === 'critical' && m.text.includes('every device #p3'), 30_000);
  assert.deepEqual(
    on('alerts').filter((t) => t.includes('#p')),
    [],
  );

  // The pager got exactly the two level 3 messages. SNS filters at publish (moto enqueues before Publish returns),
  // so a level 2 routed to the pager would be on its queue or counted by its drain: neither is the case.
  const pages = on('pager');
  assert.equal(pages.length, 2, pages.join('\n---\n'));
  assert.ok(pages.every((t) => /level 3/.test(t)));
  assert.ok(!pages.some((t) => t.includes('#p2') || t.includes('#pmute')));
  // The drain deletes a page after posting it: wait for the deletes, then nothing may be left.
  const sqs = new SQSClient({});
  try {
    let left: Record<string, string> | undefined;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: fleet.pager!.queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      left = Attributes;
      if (left?.ApproximateNumberOfMessages === '0' && left.ApproximateNumberOfMessagesNotVisible === '0') break;
    }
    assert.deepEqual(left, { ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
  } finally {
    sqs.destroy();
  }
  assert.equal(fleet.pollers.pager!.stats.received, 2, 'the drain received nothing but the two pages');
});
