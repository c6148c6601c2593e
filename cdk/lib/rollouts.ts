/**
 * The rollout controller on a one-minute schedule: advances every fleet rollout with work left (judge, abort
 * and roll back, next stage, complete). The operator API creates and steers rollouts; this function moves them.
 */
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FUNCTION_ACCESS, grantAccess, type GrantableResources } from './access.js';
import type { FunctionDefaults } from './fleet-function.js';
import { ScheduledFunction } from './scheduled-function.js';
import type { TableKey } from './tables.js';

export interface RolloutsProps {
  tables: Record<TableKey, Table>;
  /** An abort by a criterion, or a completion with failures, raises an alert. */
  alertTopic: NonNullable<GrantableResources['alertTopic']>;
  /** A job rollout sends each device's job to the jobs queue. */
  jobsQueue: IQueue;
  functionDefaults: FunctionDefaults;
  reserveConcurrency: boolean;
}

export class Rollouts extends Construct {
  readonly controller: ScheduledFunction;

  constructor(scope: Construct, id: string, props: RolloutsProps) {
    super(scope, id);
    this.controller = new ScheduledFunction(this, 'Controller', {
      ...props.functionDefaults,
      ...(props.reserveConcurrency ? { reservedConcurrentExecutions: 1 } : {}),
      name: 'rollout-controller',
      description: 'Every minute: advances fleet rollouts (verdicts, abort and rollback, next stage, completion).',
    });
    grantAccess(this.controller.function.fn, FUNCTION_ACCESS['rollout-controller'], {
      tables: props.tables,
      queues: { jobs: props.jobsQueue },
      alertTopic: props.alertTopic,
    });
  }
}
