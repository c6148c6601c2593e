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
import { FleetFunction, type FleetFunctionProps } from './fleet-function.js';
import { deadLetterQueue } from './queues.js';

export interface ScheduledFunctionProps extends Omit<FleetFunctionProps, 'asyncFailureQueue'> {
  every: Duration;
}

export class ScheduledFunction extends Construct {
  readonly function: FleetFunction;
  readonly failures: Queue;
  readonly rule: Rule;

  constructor(scope: Construct, id: string, props: ScheduledFunctionProps) {
    super(scope, id);
    const { every, ...fnProps } = props;
    this.failures = deadLetterQueue(this, 'Failures');
    Validations.of(this.failures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself a dead-letter queue (EventBridge target DLQ and Lambda on-failure destination).',
    });
    this.function = new FleetFunction(this, 'Fn', { ...fnProps, asyncFailureQueue: this.failures });
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
