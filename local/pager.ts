/**
 * The local pager: what a deployed stage's pager receives (pagerUrl: an HTTPS endpoint subscribed to the alert topic
 * with ALERT_ROUTES.pager's filter policy, cdk/lib/alerting.ts), shown on this machine. An SQS queue
 * `<prefix>-pager` is subscribed to the alert topic with that same filter policy (from infra/spec.ts, so the local
 * route cannot drift from the deployed one), and a poller drains it into the Slack receiver's `pager` channel,
 * posting each SNS notification as an HTTPS subscriber would get it (raw delivery off: the envelope is kept).
 *
 * Only the alert topic: the local fleet has no paging topic (CloudWatch alarms do not run locally). A queue rather
 * than an SNS HTTP subscription straight to the receiver, because an emulator in a container could not reach the
 * receiver on this machine's loopback address, and because SQS keeps a page the receiver failed to take.
 */
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  ListSubscriptionsByTopicCommand,
  SetSubscriptionAttributesCommand,
  SNSClient,
  SubscribeCommand,
} from '@aws-sdk/client-sns';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { ALERT_ROUTES } from '../infra/spec.js';
import { startSqsPoller, type SqsPoller } from './sqs-poller.js';
import type { ClientOverrides } from './provision.js';

export const PAGER_QUEUE_ENV = 'LOCAL_PAGER_QUEUE_URL';

export interface LocalPagerRoute {
  queueUrl: string;
  queueArn: string;
  subscriptionArn: string;
}

/**
 * Create the pager queue (if needed), let the alert topic send to it, and subscribe it with the pager's filter
 * policy. Idempotent: a restarted fleet (state kept in an external emulator) finds its queue and subscription and
 * sets the filter policy again.
 */
export async function provisionPagerRoute(
  prefix: string,
  alertTopicArn: string,
  client: ClientOverrides = {},
): Promise<LocalPagerRoute> {
  const sqs = new SQSClient({ ...client });
  const sns = new SNSClient({ ...client });
  try {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `${prefix}-pager` }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    const queueArn = Attributes!.QueueArn!;
    const existing = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: alertTopicArn }));
    const found = existing.Subscriptions?.find((s) => s.Endpoint === queueArn);
    const filter = JSON.stringify(ALERT_ROUTES.pager);
    let subscriptionArn = found?.SubscriptionArn;
    if (subscriptionArn)
      await sns.send(
        new SetSubscriptionAttributesCommand({
          SubscriptionArn: subscriptionArn,
          AttributeName: 'FilterPolicy',
          AttributeValue: filter,
        }),
      );
    else {
      const sub = await sns.send(
        new SubscribeCommand({
          TopicArn: alertTopicArn,
          Protocol: 'sqs',
          Endpoint: queueArn,
          Attributes: { FilterPolicy: filter },
          ReturnSubscriptionArn: true,
        }),
      );
      subscriptionArn = sub.SubscriptionArn!;
    }
    return { queueUrl: QueueUrl!, queueArn, subscriptionArn };
  } finally {
    sqs.destroy();
    sns.destroy();
  }
}

/**
 * Drain the pager queue into `pagerUrl` (the receiver's pager channel): each message body is the SNS notification,
 * posted as is. What the endpoint refuses stays on the queue and comes back, as SNS retries an HTTPS endpoint.
 */
export function startPagerForwarder(opts: {
  queueUrl: string;
  pagerUrl: string;
  waitTimeSeconds?: number;
  onError?: (err: unknown) => void;
}): SqsPoller {
  return startSqsPoller({
    queueUrl: opts.queueUrl,
    functionName: 'local-pager',
    waitTimeSeconds: opts.waitTimeSeconds ?? 20,
    handler: async (event: SQSEvent): Promise<SQSBatchResponse> => {
      const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
      for (const r of event.Records) {
        try {
          const res = await fetch(opts.pagerUrl, {
            method: 'POST',
            headers: { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': 'Notification' },
            body: r.body,
            signal: AbortSignal.timeout(5000),
          });
          await res.text().catch(() => '');
          if (!res.ok) throw new Error(`pager answered ${res.status}`);
        } catch (err) {
          opts.onError?.(err);
          batchItemFailures.push({ itemIdentifier: r.messageId });
        }
      }
      return { batchItemFailures };
    },
    onError: (err, phase) => {
      if (phase !== 'receive') opts.onError?.(err);
    },
  });
}
