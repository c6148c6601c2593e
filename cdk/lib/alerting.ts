/**
 * Alerting: the encrypted SNS alert topic, the alerts-delivery queue subscribed to it (SNS envelope kept,
 * as infra/spec.ts says) with its DLQ, the Slack forwarder on that queue, the Slack webhook secrets (the default
 * one and, optionally, the critical and warning channels' own; referenced by the NAMEs from context, their values
 * never enter the template or the env), and an optional e-mail subscription.
 *
 * Routing by level (docs/runbook.md "How alerts reach you"): Slack gets every alert; the pager (an HTTPS endpoint
 * such as an incident tool's SNS integration, and/or an e-mail address) gets level 3 through a subscription filter
 * policy (ALERT_ROUTES in infra/spec.ts), the warning e-mail level 2. Two more topics, never read by the Slack
 * forwarder: the paging topic, which platform alarms that need a person now notify directly (CloudWatch alarm
 * notifications carry no message attributes to filter on), and the alerting-path topic, for alarms about the
 * alerting path itself (its DLQs, the forwarder's errors, the age of the alerts queue), which must not travel the
 * path they report on.
 */
import { Validations } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { SubscriptionFilter, SubscriptionProtocol, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription, SqsSubscription, UrlSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { FUNCTION_ACCESS, grantAccess, type SlackChannelKey } from './access.js';
import { FleetFunction, type FunctionDefaults } from './fleet-function.js';
import { addQueueTrigger } from './queue-trigger.js';
import { deadLetterQueue, workQueue } from './queues.js';
import { ALERT_ROUTES, FUNCTIONS, QUEUES, type FilterCondition } from '../../infra/spec.js';
import type { TableKey } from './tables.js';

export interface AlertingProps {
  tables: Record<TableKey, Table>;
  slackWebhookSecretName: string;
  /** Own webhooks of the critical (level 3) and warning (level 2) Slack channels; absent: the default webhook. */
  slackChannelSecretNames?: Partial<Record<SlackChannelKey, string>>;
  alertEmail?: string;
  /** The pager: level 3 alerts, paging alarms and alerting-path alarms (HTTPS endpoint and/or e-mail). */
  pagerUrl?: string;
  pagerEmail?: string;
  /** Level 2 alerts by e-mail (Slack gets them regardless). */
  warningEmail?: string;
  functionDefaults: FunctionDefaults;
}

/** A filter policy of infra/spec.ts as CDK's type (the conditions are SNS's JSON already). */
function filterPolicy(route: Record<string, FilterCondition[]>): Record<string, SubscriptionFilter> {
  return Object.fromEntries(Object.entries(route).map(([k, conditions]) => [k, new SubscriptionFilter(conditions)]));
}

export class Alerting extends Construct {
  readonly topic: Topic;
  /** Platform alarms that page directly (no Slack in between). */
  readonly pagingTopic: Topic;
  /** Alarms about the alerting path itself; never delivered through it. */
  readonly alertingPathTopic: Topic;
  /** Where the pager, warning and alerting-path subscriptions put what SNS could not deliver. */
  readonly routingDlq?: Queue;
  readonly topicKey: Key;
  readonly queue: Queue;
  readonly dlq: Queue;
  readonly emailDlq?: Queue;
  readonly slackWebhook: ISecret;
  /** The channels' own webhooks, where configured. */
  readonly slackChannelWebhooks: Partial<Record<SlackChannelKey, ISecret>> = {};
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
    const alarmTopic = (id: string, displayName: string) => {
      const topic = new Topic(this, id, { displayName, masterKey: this.topicKey, enforceSSL: true });
      topic.addToResourcePolicy(
        new PolicyStatement({
          sid: 'CloudWatchAlarmsPublish',
          principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          conditions: sourceAccount,
        }),
      );
      return topic;
    };
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: sourceAccount,
      }),
    );
    this.pagingTopic = alarmTopic('PagingTopic', 'Fleetmedic paging alarms');
    this.alertingPathTopic = alarmTopic('AlertingPathTopic', 'Fleetmedic alerting-path alarms');

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

    // ---- Routing: the pager and the warning destination filter the alert topic by level; the pager (and the general
    // alert e-mail) also subscribe to the two alarm topics, unfiltered.
    const pager = [
      ...(props.pagerUrl
        ? [(o: object) => new UrlSubscription(props.pagerUrl!, { protocol: SubscriptionProtocol.HTTPS, ...o })]
        : []),
      ...(props.pagerEmail ? [(o: object) => new EmailSubscription(props.pagerEmail!, o)] : []),
    ];
    if (pager.length || props.warningEmail || props.alertEmail) {
      this.routingDlq = deadLetterQueue(this, 'RoutingDlq');
      Validations.of(this.routingDlq).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason: 'This queue is itself a dead-letter queue (of the pager, warning and alerting-path subscriptions).',
      });
    }
    const routedDlq = this.routingDlq ? { deadLetterQueue: this.routingDlq } : {};
    for (const subscribe of pager) {
      this.topic.addSubscription(subscribe({ filterPolicy: filterPolicy(ALERT_ROUTES.pager), ...routedDlq }));
      this.pagingTopic.addSubscription(subscribe(routedDlq));
      this.alertingPathTopic.addSubscription(subscribe(routedDlq));
    }
    if (props.warningEmail)
      this.topic.addSubscription(
        new EmailSubscription(props.warningEmail, {
          filterPolicy: filterPolicy(ALERT_ROUTES.warning),
          ...routedDlq,
        }),
      );
    if (props.alertEmail) {
      // The general alert e-mail already gets every alert topic message (paging alarms included); the alarms
      // about the alerting path reach it only this way.
      this.alertingPathTopic.addSubscription(new EmailSubscription(props.alertEmail, routedDlq));
    }

    this.slackWebhook = Secret.fromSecretNameV2(this, 'SlackWebhook', props.slackWebhookSecretName);
    for (const [channel, name] of Object.entries(props.slackChannelSecretNames ?? {}) as [SlackChannelKey, string][])
      if (name)
        this.slackChannelWebhooks[channel] = Secret.fromSecretNameV2(
          this,
          channel === 'critical' ? 'SlackWebhookCritical' : 'SlackWebhookWarning',
          name,
        );

    this.forwarder = new FleetFunction(this, 'SlackForwarder', {
      ...props.functionDefaults,
      name: 'slack-forwarder',
      description: 'Posts alert events from the alert topic to Slack (Block Kit); what still fails goes to the DLQ.',
    });
    grantAccess(this.forwarder.fn, FUNCTION_ACCESS['slack-forwarder'], {
      tables: props.tables,
      queues: { alerts: this.queue, alertsDlq: this.dlq },
      slackWebhook: this.slackWebhook,
      slackChannelWebhooks: this.slackChannelWebhooks,
    });
    const trigger = FUNCTIONS['slack-forwarder'].trigger;
    if (trigger.kind !== 'queue' || trigger.queue !== 'alerts')
      throw new Error('infra/spec.ts: slack-forwarder must be triggered by the alerts queue');
    addQueueTrigger(this.forwarder.fn, 'AlertsQueueTrigger', this.queue, trigger);
  }
}
