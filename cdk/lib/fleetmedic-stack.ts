/**
 * The Fleetmedic control plane as one stack. It only wires the constructs together (one per concern) and
 * publishes the outputs the delivery pipeline reads; everything with behaviour lives in the constructs.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { EdgeProtection } from './edge-protection.js';
import type { Construct } from 'constructs';
import { Alerting } from './alerting.js';
import { Api } from './api.js';
import { FUNCTION_ACCESS } from './access.js';
import { DevicePush } from './device-push.js';
import { retentionDays, type FunctionDefaults, type SourceLayout } from './fleet-function.js';
import { HealthEvaluation } from './health-evaluation.js';
import { JobQueue } from './job-queue.js';
import { Observability } from './observability.js';
import { Rollouts } from './rollouts.js';
import { stageSettings, type StageConfig } from './stage-config.js';
import { FleetTables, type TableKey } from './tables.js';
import { SCHEDULED_FUNCTIONS } from '../../infra/spec.js';

export interface FleetmedicStackProps extends StackProps {
  config: StageConfig;
  source: SourceLayout;
}

export class FleetmedicStack extends Stack {
  readonly tables: FleetTables;
  readonly alerting: Alerting;
  readonly jobQueue: JobQueue;
  readonly health: HealthEvaluation;
  readonly rollouts: Rollouts;
  readonly api: Api;
  readonly observability: Observability;
  readonly push: DevicePush;

  constructor(scope: Construct, id: string, props: FleetmedicStackProps) {
    super(scope, id, props);
    const { config } = props;
    const logRetention = retentionDays(config.logRetentionDays);
    const functionDefaults: FunctionDefaults = {
      source: props.source,
      metricsNamespace: config.metricsNamespace,
      logRetention,
      stageSettings: stageSettings(config),
    };

    this.tables = new FleetTables(this, 'Tables', { destroyOnDelete: config.destroyTablesOnDelete });
    const tables = this.tables.tables;

    this.alerting = new Alerting(this, 'Alerting', {
      tables,
      slackWebhookSecretName: config.slackWebhookSecretName,
      slackChannelSecretNames: {
        ...(config.slackWebhookSecretNameCritical ? { critical: config.slackWebhookSecretNameCritical } : {}),
        ...(config.slackWebhookSecretNameWarning ? { warning: config.slackWebhookSecretNameWarning } : {}),
      },
      ...(config.alertEmail ? { alertEmail: config.alertEmail } : {}),
      ...(config.pagerUrl ? { pagerUrl: config.pagerUrl } : {}),
      ...(config.pagerEmail ? { pagerEmail: config.pagerEmail } : {}),
      ...(config.warningEmail ? { warningEmail: config.warningEmail } : {}),
      functionDefaults,
    });
    const alertTopic = { topic: this.alerting.topic, key: this.alerting.topicKey };

    this.jobQueue = new JobQueue(this, 'JobQueue', {
      tables,
      alertTopic,
      functionDefaults,
      reserveConcurrency: config.reserveConcurrency,
    });

    this.health = new HealthEvaluation(this, 'Health', {
      tables,
      jobsQueue: this.jobQueue.queue,
      jobsDlq: this.jobQueue.dlq,
      alertsDlq: this.alerting.dlq,
      alertTopic,
      functionDefaults,
      reserveConcurrency: config.reserveConcurrency,
    });

    this.rollouts = new Rollouts(this, 'Rollouts', {
      tables,
      alertTopic,
      jobsQueue: this.jobQueue.queue,
      functionDefaults,
      reserveConcurrency: config.reserveConcurrency,
    });

    this.api = new Api(this, 'Api', {
      tables,
      queues: {
        jobs: this.jobQueue.queue,
        jobsDlq: this.jobQueue.dlq,
        alerts: this.alerting.queue,
        alertsDlq: this.alerting.dlq,
      },
      alertTopic,
      functionDefaults,
      logRetention,
      throttle: { rateLimit: config.apiRateLimit, burstLimit: config.apiBurstLimit },
      operatorRoleNames: config.operatorRoleNames,
      registrySecretPrefix: config.registrySecretPrefix,
    });

    // The push channel; the functions FUNCTION_ACCESS marks `notifyDevices` may post to it.
    this.push = new DevicePush(this, 'Push', {
      tables,
      functionDefaults,
      logRetention,
      throttle: { rateLimit: config.apiRateLimit, burstLimit: config.apiBurstLimit },
    });
    for (const f of [
      this.api.deviceApi,
      this.api.operatorApi,
      this.jobQueue.dispatcher,
      this.jobQueue.outboxPublisher.function,
      this.jobQueue.timeoutSweeper.function,
      this.health.evaluator.function,
      this.rollouts.controller.function,
      this.alerting.forwarder,
    ]) {
      if (FUNCTION_ACCESS[f.functionName].notifyDevices) this.push.grantNotify(f.fn);
    }

    const scheduled = [
      this.jobQueue.outboxPublisher,
      this.jobQueue.timeoutSweeper,
      this.health.evaluator,
      this.rollouts.controller,
    ];
    this.observability = new Observability(this, 'Observability', {
      stage: config.stage,
      namespace: config.metricsNamespace,
      topics: {
        alerts: this.alerting.topic,
        paging: this.alerting.pagingTopic,
        alertingPath: this.alerting.alertingPathTopic,
      },
      functions: [
        this.api.deviceApi,
        this.api.operatorApi,
        this.jobQueue.dispatcher,
        ...scheduled.map((s) => s.function),
        this.alerting.forwarder,
        this.push.handler,
      ],
      jobsQueue: this.jobQueue.queue,
      alertsQueue: this.alerting.queue,
      deadLetterQueues: [
        { label: 'jobs', queue: this.jobQueue.dlq, route: 'page' },
        { label: 'alerts', queue: this.alerting.dlq, route: 'alerting-path' },
        ...scheduled.map((s) => ({ label: s.function.functionName, queue: s.failures, route: 'slack' as const })),
        ...(this.alerting.emailDlq
          ? [{ label: 'alert-email', queue: this.alerting.emailDlq, route: 'alerting-path' as const }]
          : []),
        ...(this.alerting.routingDlq
          ? [{ label: 'alert-routing', queue: this.alerting.routingDlq, route: 'alerting-path' as const }]
          : []),
      ],
      httpApi: this.api.httpApi,
      scheduledFunctions: [...SCHEDULED_FUNCTIONS],
      tables: (Object.keys(tables) as TableKey[]).map((label) => ({ label, table: tables[label] })),
      thresholds: config,
    });

    if (config.edgeProtection) {
      // 2,000 requests per 5 minutes per IP: ~100 idle devices behind one site NAT at the old protocol's rate.
      new EdgeProtection(this, 'Edge', {
        httpApi: this.api.httpApi,
        ratePerIpPer5Min: 2000,
        ...(config.edgeWebAclArn ? { webAclArn: config.edgeWebAclArn } : {}),
      });
    }
    new CfnOutput(this, 'ApiUrl', { value: this.api.stage.url, description: 'Base URL of the HTTP API' });
    new CfnOutput(this, 'PushUrl', {
      value: this.push.stage.url,
      description: 'WebSocket URL of the push channel (agent --push-url)',
    });
    new CfnOutput(this, 'OperatorPolicyArn', {
      value: this.api.operatorPolicy.managedPolicyArn,
      description: 'Attach to the IAM users/roles that operate the fleet (CLI, acceptance checks)',
    });
    new CfnOutput(this, 'AlertTopicArn', { value: this.alerting.topic.topicArn });
    new CfnOutput(this, 'PagingTopicArn', { value: this.alerting.pagingTopic.topicArn });
    new CfnOutput(this, 'AlertingPathTopicArn', { value: this.alerting.alertingPathTopic.topicArn });
    new CfnOutput(this, 'SlackWebhookSecretName', { value: config.slackWebhookSecretName });
    if (config.slackWebhookSecretNameCritical)
      new CfnOutput(this, 'SlackWebhookSecretNameCritical', { value: config.slackWebhookSecretNameCritical });
    if (config.slackWebhookSecretNameWarning)
      new CfnOutput(this, 'SlackWebhookSecretNameWarning', { value: config.slackWebhookSecretNameWarning });
    new CfnOutput(this, 'RegistrySecretPrefix', { value: config.registrySecretPrefix });
    new CfnOutput(this, 'DashboardName', { value: this.observability.dashboard.dashboardName });
  }
}
