/**
 * A function run on a fixed schedule (EventBridge rule), with nowhere for a failure to vanish:
 * - the rule's target has a retry policy and a dead-letter queue (EventBridge could not invoke it);
 * - the function's asynchronous invocation config sends failed runs to the same queue (it ran and threw).
 * The queue's depth is alarmed like every other DLQ.
 */
import { Duration, Validations } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FUNCTIONS, type ScheduledFunctionName } from '../../infra/spec.js';
import { FleetFunction, type FleetFunctionProps } from './fleet-function.js';
import { deadLetterQueue } from './queues.js';

/** The rate comes from the function's schedule in infra/spec.ts. */
export interface ScheduledFunctionProps extends Omit<FleetFunctionProps, 'asyncFailureQueue' | 'name'> {
  name: ScheduledFunctionName;
}

export class ScheduledFunction extends Construct {
  readonly function: FleetFunction;
  readonly failures: Queue;
  readonly rule: Rule;

  constructor(scope: Construct, id: string, props: ScheduledFunctionProps) {
    super(scope, id);
    const trigger = FUNCTIONS[props.name].trigger;
    if (trigger.kind !== 'schedule') throw new Error(`${props.name} has no schedule in infra/spec.ts`);
    const every = Duration.minutes(trigger.everyMinutes);
    this.failures = deadLetterQueue(this, 'Failures');
    Validations.of(this.failures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself a dead-letter queue (EventBridge target DLQ and Lambda on-failure destination).',
    });
    this.function = new FleetFunction(this, 'Fn', { ...props, asyncFailureQueue: this.failures });
    this.rule = new Rule(this, 'Schedule', {
      schedule: Schedule.rate(every),
      description: `fleetmedic ${props.name} every ${every.toMinutes()} min`,
    });
    this.rule.addTarget(
      new LambdaFunction(this.function.fn, {
        deadLetterQueue: this.failures,
        retryAttempts: 2,
        // A run older than one period is superseded by the next one.
        maxEventAge: every.toSeconds() >= 60 ? every : Duration.minutes(1),
      }),
    );
  }
}
