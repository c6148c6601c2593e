/**
 * Child process for test/integration/alerting/slack-secret-tracing.test.ts: the real Slack forwarder as it runs in
 * Lambda with active tracing (the tracer is built at module load from the environment, and the X-Ray SDK's
 * context is process-wide, so this must be its own process). The parent sets the Lambda/X-Ray environment and
 * points AWS_XRAY_DAEMON_ADDRESS at its UDP listener.
 *
 * argv[2]: JSON list of steps `{ secretId, messageId, timeoutMs }`; each is one invocation with one alert.
 * Prints one line `RESULT <json>` per step (what failed), so the parent can check the scenario really ran.
 */
import { randomUUID } from 'node:crypto';
import type { SQSRecord } from 'aws-lambda';
import { lambdaContext } from '../../local/lambda-context.js';
import { resetWebhookCache } from '../../functions/adapters/slack-webhook.js';
import { toAlertEvent } from '../../functions/domain/alerting/event.js';
import { handler } from '../../functions/handlers/slack-forwarder.js';

interface Step {
  secretId: string;
  messageId: string;
  timeoutMs: number;
}

const steps = JSON.parse(process.argv[2] ?? '[]') as Step[];

function record(step: Step): SQSRecord {
  const event = toAlertEvent(
    {
      alertName: 'ServiceCrashLoop',
      level: 2,
      deviceId: 'dev-trace',
      service: 'mosquitto',
      summary: `traced ${step.messageId}`,
      since: Date.now() - 60_000,
      correlationId: `corr-${step.messageId}`,
    },
    { notificationId: `n-${step.messageId}`, now: Date.now() },
  );
  const body = JSON.stringify({
    Type: 'Notification',
    MessageId: step.messageId,
    TopicArn: 'arn:aws:sns:us-east-1:123456789012:alerts',
    Message: JSON.stringify(event),
  });
  return {
    messageId: randomUUID(),
    receiptHandle: randomUUID(),
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: 'test',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:alerts',
    awsRegion: 'us-east-1',
  };
}

for (const step of steps) {
  process.env.SLACK_WEBHOOK_SECRET_ID = step.secretId;
  resetWebhookCache();
  let outcome: unknown;
  try {
    const res = await handler({ Records: [record(step)] }, lambdaContext('slack-forwarder', step.timeoutMs));
    outcome = { failed: (res?.batchItemFailures ?? []).length };
  } catch (err) {
    outcome = { thrown: `${(err as Error).name}: ${(err as Error).message}` };
  }
  process.stdout.write(`RESULT ${JSON.stringify({ messageId: step.messageId, ...(outcome as object) })}\n`);
}
// Let the last UDP datagrams leave before exiting.
await new Promise((r) => setTimeout(r, 200));
