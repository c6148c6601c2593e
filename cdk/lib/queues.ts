/**
 * SQS queues as this stack makes them: the settings infra/spec.ts gives each (visibility, retention, redrive),
 * plus server-side encryption (SSE-SQS: no key for producers and SNS to be granted) and a TLS-only access policy.
 */
import { Duration } from 'aws-cdk-lib';
import { Queue, QueueEncryption, type QueueProps } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { DEAD_LETTER_QUEUE, type QueueSpec } from '../../infra/spec.js';

export function secureQueue(
  scope: Construct,
  id: string,
  props: Omit<QueueProps, 'encryption' | 'enforceSSL'> = {},
): Queue {
  return new Queue(scope, id, { ...props, encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true });
}

/** A dead-letter queue: one of the spec's, or (no spec) a cloud-only one with the same settings. */
export function deadLetterQueue(
  scope: Construct,
  id: string,
  spec: Pick<QueueSpec, 'visibilityTimeoutSeconds' | 'retentionSeconds'> = DEAD_LETTER_QUEUE,
): Queue {
  return secureQueue(scope, id, {
    retentionPeriod: Duration.seconds(spec.retentionSeconds),
    visibilityTimeout: Duration.seconds(spec.visibilityTimeoutSeconds),
  });
}

/** A work queue of the spec, dead-lettering into `dlq` after the spec's maxReceiveCount. */
export function workQueue(scope: Construct, id: string, spec: QueueSpec, dlq: Queue): Queue {
  if (!spec.deadLetter)
    throw new Error(`queue ${spec.logicalName}: a work queue needs a dead-letter queue in infra/spec.ts`);
  return secureQueue(scope, id, {
    visibilityTimeout: Duration.seconds(spec.visibilityTimeoutSeconds),
    retentionPeriod: Duration.seconds(spec.retentionSeconds),
    deadLetterQueue: { queue: dlq, maxReceiveCount: spec.deadLetter.maxReceiveCount },
  });
}
