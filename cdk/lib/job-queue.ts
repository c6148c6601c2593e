/**
 * The job queue: jobs queue + DLQ (redrive as infra/spec.ts says), the dispatcher on it (partial batch failures),
 * and the two schedules that keep jobs moving: the outbox publisher (nothing lost between DynamoDB and SQS)
 * and the timeout sweeper (IN_PROGRESS past its deadline becomes TIMED_OUT).
 */
import { FUNCTIONS, QUEUES } from '../../infra/spec.js';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FUNCTION_ACCESS, grantAccess, type GrantableResources } from './access.js';
import { FleetFunction, type FunctionDefaults } from './fleet-function.js';
import { addQueueTrigger } from './queue-trigger.js';
import { deadLetterQueue, workQueue } from './queues.js';
import { ScheduledFunction } from './scheduled-function.js';
import type { TableKey } from './tables.js';

export interface JobQueueProps {
  tables: Record<TableKey, Table>;
  alertTopic: NonNullable<GrantableResources['alertTopic']>;
  functionDefaults: FunctionDefaults;
  reserveConcurrency: boolean;
}

export class JobQueue extends Construct {
  readonly queue: Queue;
  readonly dlq: Queue;
  readonly dispatcher: FleetFunction;
  readonly outboxPublisher: ScheduledFunction;
  readonly timeoutSweeper: ScheduledFunction;

  constructor(scope: Construct, id: string, props: JobQueueProps) {
    super(scope, id);
    this.dlq = deadLetterQueue(this, 'JobsDlq', QUEUES['jobs-dlq']);
    this.queue = workQueue(this, 'JobsQueue', QUEUES.jobs, this.dlq);
    const resources: GrantableResources = {
      tables: props.tables,
      queues: { jobs: this.queue, jobsDlq: this.dlq },
      alertTopic: props.alertTopic,
    };

    this.dispatcher = new FleetFunction(this, 'Dispatcher', {
      ...props.functionDefaults,
      name: 'job-dispatcher',
      description: 'Moves queued jobs to their device (idempotent per job id); holds them while the circuit is open.',
    });
    grantAccess(this.dispatcher.fn, FUNCTION_ACCESS['job-dispatcher'], resources);
    const trigger = FUNCTIONS['job-dispatcher'].trigger;
    if (trigger.kind !== 'queue' || trigger.queue !== 'jobs')
      throw new Error('infra/spec.ts: job-dispatcher must be triggered by the jobs queue');
    addQueueTrigger(this.dispatcher.fn, 'JobsQueueTrigger', this.queue, trigger);

    const scheduled = props.reserveConcurrency ? { reservedConcurrentExecutions: 1 } : {};
    this.outboxPublisher = new ScheduledFunction(this, 'OutboxPublisher', {
      ...props.functionDefaults,
      ...scheduled,
      name: 'outbox-publisher',
      description: 'Publishes job records still marked unpublished to the jobs queue (transactional outbox).',
    });
    grantAccess(this.outboxPublisher.function.fn, FUNCTION_ACCESS['outbox-publisher'], resources);

    this.timeoutSweeper = new ScheduledFunction(this, 'TimeoutSweeper', {
      ...props.functionDefaults,
      ...scheduled,
      name: 'job-timeout-sweeper',
      description: 'Marks IN_PROGRESS jobs past their timeout TIMED_OUT and applies their retry policy.',
    });
    grantAccess(this.timeoutSweeper.function.fn, FUNCTION_ACCESS['job-timeout-sweeper'], resources);
  }
}
