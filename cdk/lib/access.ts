/**
 * What each function may touch, in one table, and the one place that turns it into IAM grants AND environment
 * variables: a function gets the env var of a resource exactly when it gets permissions on it, so its env is
 * exactly the ids it needs and its role exactly the actions it needs.
 *
 * Grants name their actions one by one (no `service:*`, no `kms:GenerateDataKey*`) and their resources
 * explicitly, GSIs included by name, so nothing needs an IAM5 wildcard acknowledgement.
 * test/unit/cdk/handler-needs.test.ts checks this table against what each handler's code actually reads.
 */
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { FunctionName } from './fleet-function.js';
import { TABLES, type TableKey } from './tables.js';

export type TableAccess = 'read' | 'readWrite';
export type QueueKey = 'jobs' | 'jobsDlq' | 'alerts' | 'alertsDlq';
/** send: SendMessage; consume: receive, delete, change visibility (peeking and redriving a DLQ needs both). */
export type QueueAccess = 'send' | 'consume';

export interface ResourceAccess {
  tables?: Partial<Record<TableKey, TableAccess>>;
  queues?: Partial<Record<QueueKey, readonly QueueAccess[]>>;
  publishAlerts?: boolean;
  readSlackWebhook?: boolean;
}

export const QUEUE_ENV: Record<QueueKey, string> = {
  jobs: 'JOBS_QUEUE_URL',
  jobsDlq: 'JOBS_DLQ_URL',
  alerts: 'ALERTS_QUEUE_URL',
  alertsDlq: 'ALERTS_DLQ_URL',
};
export const ALERT_TOPIC_ENV = 'ALERT_TOPIC_ARN';
export const SLACK_SECRET_ENV = 'SLACK_WEBHOOK_SECRET_ID';

/**
 * Per function: which tables, queues, topic and secret it uses (docs/architecture.md; the handlers' adapters).
 * The health evaluation also runs in-process on each device report, so device-api carries what the evaluator
 * needs to enqueue recoveries and raise alerts.
 */
export const FUNCTION_ACCESS: Record<FunctionName, ResourceAccess> = {
  'device-api': {
    tables: { fleet: 'readWrite', jobs: 'readWrite', events: 'readWrite', alerts: 'readWrite' },
    queues: { jobs: ['send'] },
    publishAlerts: true,
  },
  'operator-api': {
    tables: { fleet: 'readWrite', jobs: 'readWrite', events: 'readWrite' },
    // Enqueue sends to the jobs queue; the dead-letter tooling peeks the DLQs and redrives to their sources.
    queues: { jobs: ['send'], jobsDlq: ['consume', 'send'], alerts: ['send'], alertsDlq: ['consume', 'send'] },
  },
  'job-dispatcher': {
    tables: { fleet: 'readWrite', jobs: 'readWrite', events: 'readWrite', idempotency: 'readWrite', alerts: 'readWrite' },
    // consume is granted by the event source mapping; the URL is needed for ChangeMessageVisibility (backoff).
    queues: { jobs: ['consume'] },
    publishAlerts: true,
  },
  'outbox-publisher': {
    tables: { jobs: 'readWrite' },
    queues: { jobs: ['send'] },
  },
  'job-timeout-sweeper': {
    tables: { fleet: 'readWrite', jobs: 'readWrite', events: 'readWrite', alerts: 'readWrite' },
    queues: { jobs: ['send'] },
    publishAlerts: true,
  },
  'health-evaluator': {
    tables: { fleet: 'readWrite', jobs: 'readWrite', events: 'readWrite', alerts: 'readWrite' },
    queues: { jobs: ['send'] },
    publishAlerts: true,
  },
  'slack-forwarder': {
    tables: { alerts: 'readWrite', events: 'readWrite' },
    queues: { alerts: ['consume'] },
    readSlackWebhook: true,
  },
};

export interface GrantableResources {
  tables: Record<TableKey, Table>;
  queues: Partial<Record<QueueKey, IQueue>>;
  alertTopic?: { topic: ITopic; key: IKey };
  slackWebhook?: ISecret;
}

const READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem', 'dynamodb:DescribeTable'];
const WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];
const INDEX_ACTIONS = ['dynamodb:Query'];
const SEND_ACTIONS = ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'];
const CONSUME_ACTIONS = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'];

/** Grants `fn` what `access` lists and sets the matching env vars (and nothing else). */
export function grantAccess(fn: LambdaFunction, access: ResourceAccess, res: GrantableResources): void {
  for (const [key, level] of Object.entries(access.tables ?? {}) as [TableKey, TableAccess][]) {
    const table = res.tables[key];
    grantTable(fn, table, key, level);
    fn.addEnvironment(TABLES[key].envVar, table.tableName);
  }
  for (const [key, levels] of Object.entries(access.queues ?? {}) as [QueueKey, readonly QueueAccess[]][]) {
    const queue = res.queues[key];
    if (!queue) throw new Error(`grantAccess: queue ${key} is not created before ${fn.node.path}`);
    const actions = new Set<string>();
    for (const l of levels) for (const a of l === 'send' ? SEND_ACTIONS : CONSUME_ACTIONS) actions.add(a);
    Grant.addToPrincipal({ grantee: fn, actions: [...actions], resourceArns: [queue.queueArn] });
    fn.addEnvironment(QUEUE_ENV[key], queue.queueUrl);
  }
  if (access.publishAlerts) {
    if (!res.alertTopic) throw new Error(`grantAccess: the alert topic is not created before ${fn.node.path}`);
    grantPublish(fn, res.alertTopic.topic, res.alertTopic.key);
    fn.addEnvironment(ALERT_TOPIC_ENV, res.alertTopic.topic.topicArn);
  }
  if (access.readSlackWebhook) {
    if (!res.slackWebhook) throw new Error(`grantAccess: the Slack webhook secret is not defined before ${fn.node.path}`);
    // GetSecretValue + DescribeSecret on this secret only (an imported name also matches its random suffix).
    res.slackWebhook.grantRead(fn);
    // The secret's NAME, never its value: the forwarder fetches the URL at runtime.
    fn.addEnvironment(SLACK_SECRET_ENV, res.slackWebhook.secretName);
  }
}

function grantTable(grantee: IGrantable, table: Table, key: TableKey, level: TableAccess): void {
  const actions = level === 'read' ? READ_ACTIONS : [...READ_ACTIONS, ...WRITE_ACTIONS];
  Grant.addToPrincipal({ grantee, actions, resourceArns: [table.tableArn] });
  const indexes = TABLES[key].indexes.map((i) => `${table.tableArn}/index/${i.name}`);
  if (indexes.length) Grant.addToPrincipal({ grantee, actions: INDEX_ACTIONS, resourceArns: indexes });
}

/** sns:Publish plus exactly the two KMS calls SNS makes for an encrypted topic (Topic.grantPublish adds GenerateDataKey*). */
export function grantPublish(grantee: IGrantable, topic: ITopic, key: IKey): void {
  Grant.addToPrincipal({ grantee, actions: ['sns:Publish'], resourceArns: [topic.topicArn] });
  Grant.addToPrincipal({ grantee, actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resourceArns: [key.keyArn] });
}
