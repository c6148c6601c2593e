/**
 * Routing by level through SNS → SQS on moto: the filter policies of infra/spec.ts (ALERT_ROUTES, the same ones the
 * stack puts on the pager and warning subscriptions) on queues subscribed to the alert topic, fed by the real
 * publication adapter. Slack gets everything; the pager gets level 3 (and its resolution) unless the service is kept
 * off the pager; the warning destination gets level 2.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { publishAlertEvent } from '../../../functions/adapters/alert-publication.js';
import { decideRaise, resolvedEvent } from '../../../functions/domain/alerting/dedupe.js';
import { type AlertInput, toAlertEvent } from '../../../functions/domain/alerting/event.js';
import { ALERT_ROUTES } from '../../../infra/spec.js';
import { receiveMessages } from '../../support/alerting.js';
import { createTestInfra, type TestInfra } from '../../support/infra.js';

let infra: TestInfra;
const sqs = new SQSClient({});
const sns = new SNSClient({});
const queues: Record<'pager' | 'warning', string> = { pager: '', warning: '' };
const T0 = Date.parse('2030-01-01T00:00:00Z');

before(async () => {
  infra = await createTestInfra({ POWERTOOLS_LOG_LEVEL: 'CRITICAL', POWERTOOLS_METRICS_DISABLED: 'true' });
  for (const route of ['pager', 'warning'] as const) {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `${infra.prefix}-route-${route}` }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    await sns.send(
      new SubscribeCommand({
        TopicArn: infra.env.ALERT_TOPIC_ARN,
        Protocol: 'sqs',
        Endpoint: Attributes!.QueueArn,
        Attributes: { FilterPolicy: JSON.stringify(ALERT_ROUTES[route]) },
      }),
    );
    queues[route] = QueueUrl!;
  }
});
after(() => infra.close());

const input = (over: Partial<AlertInput>): AlertInput => ({
  alertName: 'ServiceCrashLoop',
  level: 2,
  deviceId: 'dev-r',
  service: 'web',
  summary: 'web restarts',
  since: T0,
  ...over,
});
/** The resolution of an alert raised with `raised`, as resolveAlert would publish it. */
function resolutionOf(raised: AlertInput, id: string) {
  const decision = decideRaise(undefined, raised, T0);
  return resolvedEvent(decision.record, { notificationId: id, now: T0 + 60_000 });
}

async function idsIn(queueUrl: string, expected: number): Promise<string[]> {
  const msgs = await receiveMessages(queueUrl, { max: 10, waitMs: expected ? 5000 : 1500 });
  return msgs.map((m) => JSON.parse(JSON.parse(m.Body!).Message).notificationId as string).sort();
}

test('level 3 pages, level 2 goes to the warning destination, notifyOnFail: false stays off the pager; Slack gets all', async () => {
  const critical = input({ alertName: 'RecoveryFailed', level: 3, service: 'db' });
  const quiet = input({ alertName: 'RecoveryFailed', level: 3, service: 'kiosk-ads', notifyOnFail: false });
  const events = [
    toAlertEvent(critical, { notificationId: 'critical', now: T0 }),
    toAlertEvent(input({}), { notificationId: 'warning', now: T0 }),
    toAlertEvent(quiet, { notificationId: 'critical-off-pager', now: T0 }),
    resolutionOf(critical, 'critical-resolved'),
    resolutionOf(quiet, 'off-pager-resolved'),
  ];
  assert.equal(events[2]!.notifyOnFail, false);
  assert.equal(events[4]!.notifyOnFail, false, 'the resolution of an off-pager alert stays off the pager');
  for (const e of events) await publishAlertEvent(e);

  // Slack's queue gets every event (and says that moto delivered all of them before the others are read).
  assert.deepEqual(await idsIn(infra.env.ALERTS_QUEUE_URL!, 5), [
    'critical',
    'critical-off-pager',
    'critical-resolved',
    'off-pager-resolved',
    'warning',
  ]);
  assert.deepEqual(await idsIn(queues.pager, 2), ['critical', 'critical-resolved']);
  assert.deepEqual(await idsIn(queues.warning, 1), ['warning']);
});
