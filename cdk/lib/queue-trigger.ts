/**
 * An SQS queue triggering a function (event source mapping) as infra/spec.ts describes it, WITHOUT the grants
 * SqsEventSource adds on its own (Queue.grantConsumeMessages: also GetQueueUrl and ChangeMessageVisibility, which
 * neither Lambda's poller nor every consumer calls). The poller's three actions are in the function's
 * FUNCTION_ACCESS entry (TRIGGER_QUEUE_ACTIONS, cdk/lib/access.ts) like every other grant;
 * test/unit/cdk/handler-needs.test.ts checks that a triggered function has them.
 */
import { Duration } from 'aws-cdk-lib';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { QueueTriggerSpec } from '../../infra/spec.js';

export function addQueueTrigger(fn: LambdaFunction, id: string, queue: IQueue, spec: QueueTriggerSpec): void {
  fn.addEventSourceMapping(id, {
    eventSourceArn: queue.queueArn,
    batchSize: spec.batchSize,
    ...(spec.maxBatchingWindowSeconds > 0
      ? { maxBatchingWindow: Duration.seconds(spec.maxBatchingWindowSeconds) }
      : {}),
    reportBatchItemFailures: spec.reportBatchItemFailures,
    maxConcurrency: spec.maxConcurrency,
  });
}
