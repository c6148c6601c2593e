/**
 * SQS queues as this stack makes them: server-side encryption (SSE-SQS: no key for producers and SNS to be
 * granted), TLS-only access policy, and a dead-letter queue for every queue that has consumers.
 */
import { Duration } from 'aws-cdk-lib';
import { Queue, QueueEncryption, type QueueProps } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Lower values send healthy messages to the DLQ under throttling (AWS's own guidance). */
export const MAX_RECEIVE_COUNT = 5;
/** A queue's visibility timeout is at least this many times its consumer's timeout (AWS's Lambda+SQS guidance). */
export const VISIBILITY_FACTOR = 6;

export function secureQueue(scope: Construct, id: string, props: Omit<QueueProps, 'encryption' | 'enforceSSL'> = {}): Queue {
  return new Queue(scope, id, { ...props, encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true });
}

/** A dead-letter queue: kept 14 days (the SQS maximum) so on-call has time to look. */
export function deadLetterQueue(scope: Construct, id: string): Queue {
  return secureQueue(scope, id, { retentionPeriod: Duration.days(14), visibilityTimeout: Duration.seconds(30) });
}

/** A work queue consumed by a Lambda with `consumerTimeout`, dead-lettering after MAX_RECEIVE_COUNT receives. */
export function workQueue(scope: Construct, id: string, consumerTimeout: Duration, dlq: Queue): Queue {
  return secureQueue(scope, id, {
    visibilityTimeout: Duration.seconds(consumerTimeout.toSeconds() * VISIBILITY_FACTOR),
    retentionPeriod: Duration.days(4),
    deadLetterQueue: { queue: dlq, maxReceiveCount: MAX_RECEIVE_COUNT },
  });
}
