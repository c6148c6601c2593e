/**
 * The job queue: jobs queue + DLQ (redrive after 5 receives), the dispatcher on it (partial batch failures),
 * and the two schedules that keep jobs moving: the outbox publisher (nothing lost between DynamoDB and SQS)
 * and the timeout sweeper (IN_PROGRESS past its deadline becomes TIMED_OUT).
 */
import { CfnResource, Duration } from 'aws-cdk-lib';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FUNCTION_ACCESS, grantAccess, type GrantableResources } from './access.js';
import { FleetFunction, type FunctionDefaults } from './fleet-function.js';
import { addQueueTrigger } from './queue-trigger.js';
import { deadLetterQueue, workQueue } from './queues.js';
import { ScheduledFunction } from './scheduled-function.js';
import { specName } from './spec-metadata.js';
import type { TableKey } from './tables.js';

export interface JobQueueProps {
  tables: Record<TableKey, Table>;
  alertTopic: NonNullable<GrantableResources['alertTopic']>;
  functionDefaults: FunctionDefaults;
  reserveConcurrency: boolean;
}

/** The jobs queue's visibility timeout is 6x this (local/infra-spec.ts: 180 s). */
export const DISPATCHER_TIMEOUT = Duration.seconds(30);
const SCHEDULE_TIMEOUT = Duration.seconds(55);

export class JobQueue extends Construct {
  readonly queue: Queue;
  readonly dlq: Queue;
  readonly dispatcher: FleetFunction;
  readonly outboxPublisher: ScheduledFunction;
  readonly timeoutSweeper: ScheduledFunction;

  constructor(scope: Construct, id: string, props: JobQueueProps) {
    super(scope, id);
    this.dlq = deadLetterQueue(this, 'JobsDlq');
    specName(this.dlq.node.defaultChild as CfnResource, 'jobs-dlq');
    this.queue = workQueue(this, 'JobsQueue', DISPATCHER_TIMEOUT, this.dlq);
    specName(this.queue.node.defaultChild as CfnResource, 'jobs');
    const resources: GrantableResources = {
      tables: props.tables,
      queues: { jobs: this.queue, jobsDlq: this.dlq },
      alertTopic: props.alertTopic,
    };

    this.dispatcher = new FleetFunction(this, 'Dispatcher', {
      ...props.functionDefaults,
      name: 'job-dispatcher',
      description: 'Moves queued jobs to their device (idempotent per job id); holds them while the circuit is open.',
      timeout: DISPATCHER_TIMEOUT,
    });
    grantAccess(this.dispatcher.fn, FUNCTION_ACCESS['job-dispatcher'], resources);
    addQueueTrigger(this.dispatcher.fn, 'JobsQueueTrigger', this.queue, {
      batchSize: 10,
      maxBatchingWindow: Duration.seconds(1),
      reportBatchItemFailures: true,
      // Scale limit on the event source rather than reserved concurrency: reserved concurrency makes
      // Lambda throttle the pollers, which burns receives and sends healthy messages to the DLQ.
      maxConcurrency: 10,
    });

    const scheduled = props.reserveConcurrency ? { reservedConcurrentExecutions: 1 } : {};
    this.outboxPublisher = new ScheduledFunction(this, 'OutboxPublisher', {
      ...props.functionDefaults,
      ...scheduled,
      name: 'outbox-publisher',
      description: 'Publishes job records still marked unpublished to the jobs queue (transactional outbox).',
      timeout: SCHEDULE_TIMEOUT,
      every: Duration.minutes(1),
    });
    grantAccess(this.outboxPublisher.function.fn, FUNCTION_ACCESS['outbox-publisher'], resources);

    this.timeoutSweeper = new ScheduledFunction(this, 'TimeoutSweeper', {
      ...props.functionDefaults,
      ...scheduled,
      name: 'job-timeout-sweeper',
      description: 'Marks IN_PROGRESS jobs past their timeout TIMED_OUT and applies their retry policy.',
      timeout: SCHEDULE_TIMEOUT,
      every: Duration.minutes(1),
    });
    grantAccess(this.timeoutSweeper.function.fn, FUNCTION_ACCESS['job-timeout-sweeper'], resources);
  }
}
