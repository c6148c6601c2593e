/**
 * An SQS queue triggering a function (event source mapping) WITHOUT the grants SqsEventSource adds on its own
 * (Queue.grantConsumeMessages: also GetQueueUrl and ChangeMessageVisibility, which neither Lambda's poller nor
 * every consumer calls). The poller's three actions are in the function's FUNCTION_ACCESS entry
 * (TRIGGER_QUEUE_ACTIONS, cdk/lib/access.ts) like every other grant; test/unit/cdk/handler-needs.test.ts checks
 * that a triggered function has them.
 */
import type { Duration } from 'aws-cdk-lib';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';

export interface QueueTriggerOptions {
  batchSize: number;
  maxBatchingWindow?: Duration;
  reportBatchItemFailures: boolean;
  maxConcurrency: number;
}

export function addQueueTrigger(fn: LambdaFunction, id: string, queue: IQueue, opts: QueueTriggerOptions): void {
  fn.addEventSourceMapping(id, {
    eventSourceArn: queue.queueArn,
    batchSize: opts.batchSize,
    ...(opts.maxBatchingWindow ? { maxBatchingWindow: opts.maxBatchingWindow } : {}),
    reportBatchItemFailures: opts.reportBatchItemFailures,
    maxConcurrency: opts.maxConcurrency,
  });
}
