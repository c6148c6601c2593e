/**
 * Alerting: the encrypted SNS alert topic, the alerts-delivery queue subscribed to it (SNS envelope kept,
 * as infra/spec.ts says) with its DLQ, the Slack forwarder on that queue, the Slack webhook secret
 * (referenced by the NAME from context; its value never enters the template or the env), and an optional
 * e-mail subscription.
 */
import { Validations } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription, SqsSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { FUNCTION_ACCESS, grantAccess } from './access.js';
import { FleetFunction, type FunctionDefaults } from './fleet-function.js';
import { addQueueTrigger } from './queue-trigger.js';
import { deadLetterQueue, workQueue } from './queues.js';
import { FUNCTIONS, QUEUES } from '../../infra/spec.js';
import type { TableKey } from './tables.js';

export interface AlertingProps {
  tables: Record<TableKey, Table>;
  slackWebhookSecretName: string;
  alertEmail?: string;
  functionDefaults: FunctionDefaults;
}

export class Alerting extends Construct {
  readonly topic: Topic;
  readonly topicKey: Key;
  readonly queue: Queue;
  readonly dlq: Queue;
  readonly emailDlq?: Queue;
  readonly slackWebhook: ISecret;
  readonly forwarder: FleetFunction;

  constructor(scope: Construct, id: string, props: AlertingProps) {
    super(scope, id);

    // SNS encryption needs a KMS key; a customer-managed one because CloudWatch alarms must be allowed to
    // use it (the AWS-managed aws/sns key cannot be shared with cloudwatch.amazonaws.com).
    this.topicKey = new Key(this, 'TopicKey', {
      description: 'fleetmedic alert topic encryption',
      enableKeyRotation: true,
    });
    const sourceAccount = { StringEquals: { 'aws:SourceAccount': this.topicKey.stack.account } };
    this.topicKey.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublishToAlertTopic',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: ['*'],
        conditions: sourceAccount,
      }),
    );
    this.topic = new Topic(this, 'Topic', {
      displayName: 'Fleetmedic alerts',
      masterKey: this.topicKey,
      enforceSSL: true,
    });
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: sourceAccount,
      }),
    );

    this.dlq = deadLetterQueue(this, 'DeliveryDlq', QUEUES['alerts-dlq']);
    this.queue = workQueue(this, 'DeliveryQueue', QUEUES.alerts, this.dlq);
    // Envelope kept (raw delivery off): the forwarder reads Subject/MessageAttributes, and a redriven DLQ
    // message looks the same whether SNS or the forwarder gave up on it.
    this.topic.addSubscription(
      new SqsSubscription(this.queue, { rawMessageDelivery: false, deadLetterQueue: this.dlq }),
    );

    if (props.alertEmail) {
      this.emailDlq = deadLetterQueue(this, 'EmailDlq');
      Validations.of(this.emailDlq).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason: 'This queue is itself a dead-letter queue (of the e-mail subscription).',
      });
      this.topic.addSubscription(new EmailSubscription(props.alertEmail, { deadLetterQueue: this.emailDlq }));
    }

    this.slackWebhook = Secret.fromSecretNameV2(this, 'SlackWebhook', props.slackWebhookSecretName);

    this.forwarder = new FleetFunction(this, 'SlackForwarder', {
      ...props.functionDefaults,
      name: 'slack-forwarder',
      description: 'Posts alert events from the alert topic to Slack (Block Kit); what still fails goes to the DLQ.',
    });
    grantAccess(this.forwarder.fn, FUNCTION_ACCESS['slack-forwarder'], {
      tables: props.tables,
      queues: { alerts: this.queue, alertsDlq: this.dlq },
      slackWebhook: this.slackWebhook,
    });
    const trigger = FUNCTIONS['slack-forwarder'].trigger;
    if (trigger.kind !== 'queue' || trigger.queue !== 'alerts')
      throw new Error('infra/spec.ts: slack-forwarder must be triggered by the alerts queue');
    addQueueTrigger(this.forwarder.fn, 'AlertsQueueTrigger', this.queue, trigger);
  }
}
