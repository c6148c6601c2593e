/**
 * Publishing alert events to the SNS alert topic (the Slack forwarder's queue gets the JSON event, email
 * subscribers readable text). Their entries in the operator's event history: services/alert-history.ts.
 */
import { PublishCommand, type MessageAttributeValue } from '@aws-sdk/client-sns';
import { AlertEvent } from '../domain/alerting/event.js';
import { plainTextAlert } from '../domain/alerting/plain-text.js';
import { snsClient } from '../lib/aws.js';
import { config } from '../lib/config.js';

/**
 * SNS message attributes let subscriptions filter: the routes in infra/spec.ts (ALERT_ROUTES) send level 3 to the
 * pager unless `notifyOnFail` is "false", and level 2 to the warning destinations.
 */
function attributesOf(e: AlertEvent): Record<string, MessageAttributeValue> {
  const attrs: Record<string, MessageAttributeValue> = {
    severity: { DataType: 'String', StringValue: e.severity },
    status: { DataType: 'String', StringValue: e.status },
    alertName: { DataType: 'String', StringValue: e.alertName },
    dedupeKey: { DataType: 'String', StringValue: e.dedupeKey },
    level: { DataType: 'Number', StringValue: String(e.level) },
  };
  if (e.deviceId) attrs.deviceId = { DataType: 'String', StringValue: e.deviceId };
  if (e.correlationId) attrs.correlationId = { DataType: 'String', StringValue: e.correlationId };
  if (e.notifyOnFail === false) attrs.notifyOnFail = { DataType: 'String', StringValue: 'false' };
  return attrs;
}

function subjectOf(e: AlertEvent): string {
  const what =
    e.group && e.group.count > 1 ? `x${e.group.count}` : [e.service, e.deviceId].filter(Boolean).join(' on ');
  const s = `[${e.status === 'resolved' ? 'RESOLVED' : e.severity}] ${e.alertName} ${what}`.trim();
  // SNS subjects: ASCII, no line breaks, < 100 characters.
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 99);
}

/**
 * Publish one alert event to the topic. The SQS (Slack) subscription receives the JSON event; email subscribers
 * receive readable text (MessageStructure=json picks per protocol).
 */
export async function publishAlertEvent(event: AlertEvent): Promise<string | undefined> {
  const e = AlertEvent.parse(event);
  const res = await snsClient().send(
    new PublishCommand({
      TopicArn: config.alertTopicArn,
      Subject: subjectOf(e),
      MessageStructure: 'json',
      Message: JSON.stringify({
        default: JSON.stringify(e),
        email: plainTextAlert(e, { runbookBaseUrl: config.runbookBaseUrl }),
      }),
      MessageAttributes: attributesOf(e),
    }),
  );
  return res.MessageId;
}
