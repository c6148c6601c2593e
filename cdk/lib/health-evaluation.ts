/**
 * The health evaluator on a one-minute schedule: finds devices gone quiet (liveness partitions, no scan),
 * decides recoveries (rate-limited, circuit-aware) and raises alerts. It also runs in-process on each report
 * (device-api), which is why device-api's access (cdk/lib/access.ts) covers the evaluator's needs too.
 */
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FUNCTION_ACCESS, grantAccess, type GrantableResources } from './access.js';
import type { FunctionDefaults } from './fleet-function.js';
import { ScheduledFunction } from './scheduled-function.js';
import type { TableKey } from './tables.js';

export interface HealthEvaluationProps {
  tables: Record<TableKey, Table>;
  jobsQueue: Queue;
  /** The daily summary reports how many messages wait in each dead-letter queue. */
  jobsDlq: Queue;
  alertsDlq: Queue;
  alertTopic: NonNullable<GrantableResources['alertTopic']>;
  functionDefaults: FunctionDefaults;
  reserveConcurrency: boolean;
}

export class HealthEvaluation extends Construct {
  readonly evaluator: ScheduledFunction;

  constructor(scope: Construct, id: string, props: HealthEvaluationProps) {
    super(scope, id);
    this.evaluator = new ScheduledFunction(this, 'Evaluator', {
      ...props.functionDefaults,
      ...(props.reserveConcurrency ? { reservedConcurrentExecutions: 1 } : {}),
      name: 'health-evaluator',
      description:
        'Every minute: offline devices, the recovery success rate; once a day the daily summary. Raises alerts.',
    });
    grantAccess(this.evaluator.function.fn, FUNCTION_ACCESS['health-evaluator'], {
      tables: props.tables,
      queues: { jobs: props.jobsQueue, jobsDlq: props.jobsDlq, alertsDlq: props.alertsDlq },
      alertTopic: props.alertTopic,
    });
  }
}
