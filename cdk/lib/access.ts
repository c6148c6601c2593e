/**
 * What each function may touch, in one table, and the one place that turns it into IAM grants AND environment
 * variables: a function gets the env var of a resource exactly when it gets permissions on it, so its env is
 * exactly the ids it needs and its role exactly the actions it needs.
 *
 * Grants name their actions one by one (no `service:*`, no `kms:GenerateDataKey*`) and their resources
 * explicitly, GSIs included by name; the only resource wildcard is the registry credentials' name prefix.
 * test/unit/cdk/handler-needs.test.ts checks this table against what each handler's code actually reads.
 */
import { ArnFormat, Stack, Validations } from 'aws-cdk-lib';
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
/**
 * send: SendMessage; consume: receive, delete, change visibility (peeking and redriving a DLQ needs both);
 * inspect: queue attributes only (depth metrics).
 */
export type QueueAccess = 'send' | 'consume' | 'inspect';

export interface ResourceAccess {
  tables?: Partial<Record<TableKey, TableAccess>>;
  queues?: Partial<Record<QueueKey, readonly QueueAccess[]>>;
  publishAlerts?: boolean;
  readSlackWebhook?: boolean;
  /**
   * Private registry credentials (secrets named `<registrySecretPrefix><name>`): `read` = GetSecretValue (the
   * device channel hands them to the devices whose target names them); `manage` = create/rotate/delete and
   * existence checks, never the value (operators). Scoped to the name prefix only.
   */
  registryCredentials?: 'read' | 'manage';
  /** Stage settings (env names from cdk/lib/stage-config.ts stageSettings) the function's code reads. */
  settings?: readonly string[];
}

const CIRCUIT = ['CIRCUIT_FAILURE_THRESHOLD', 'CIRCUIT_COOLDOWN_SECONDS', 'CIRCUIT_MAX_COOLDOWN_SECONDS'] as const;
const LIVENESS = ['HEARTBEAT_SECONDS', 'OFFLINE_AFTER_SECONDS', 'ACTIVE_SYNC_SECONDS', 'ACTIVE_WINDOW_SECONDS'] as const;
const RECOVERY = ['RECOVERY_MAX_ATTEMPTS', 'RECOVERY_WINDOW_SECONDS'] as const;
const ALERTING = ['ALERT_COOLDOWN_SECONDS', 'ALERT_GROUP_WAIT_SECONDS', 'RUNBOOK_BASE_URL'] as const;

export const QUEUE_ENV: Record<QueueKey, string> = {
  jobs: 'JOBS_QUEUE_URL',
  jobsDlq: 'JOBS_DLQ_URL',
  alerts: 'ALERTS_QUEUE_URL',
  alertsDlq: 'ALERTS_DLQ_URL',
};
export const ALERT_TOPIC_ENV = 'ALERT_TOPIC_ARN';
export const SLACK_SECRET_ENV = 'SLACK_WEBHOOK_SECRET_ID';
export const REGISTRY_SECRET_PREFIX_ENV = 'REGISTRY_SECRET_PREFIX';
/** Exactly the calls functions/adapters/registry-credentials.ts (read) and registry-credential-store.ts (manage) make. */
export const REGISTRY_CREDENTIAL_ACTIONS = {
  read: ['secretsmanager:GetSecretValue'],
  manage: ['secretsmanager:DescribeSecret', 'secretsmanager:CreateSecret', 'secretsmanager:PutSecretValue', 'secretsmanager:DeleteSecret'],
} as const;

/**
 * Per function: which tables, queues, topic, secret and stage settings its code uses (the handlers and the
 * adapters they import; test/unit/cdk/handler-needs.test.ts derives the same from the bundled code).
 */
export const FUNCTION_ACCESS: Record<FunctionName, ResourceAccess> = {
  'device-api': {
    // Each report is also evaluated in-process (health policy): it may enqueue a recovery job and raise alerts.
    tables: { fleet: 'readWrite', jobs: 'readWrite', events: 'readWrite', alerts: 'readWrite' },
    queues: { jobs: ['send'] },
    publishAlerts: true,
    registryCredentials: 'read',
    settings: ['OPERATOR_AUTH', ...CIRCUIT, ...LIVENESS, ...RECOVERY, ...ALERTING],
  },
  'operator-api': {
    // A job the operator cancels or that fails through it follows its retry policy, which may ESCALATE (alert).
    tables: { fleet: 'readWrite', jobs: 'readWrite', events: 'readWrite', alerts: 'readWrite' },
    // Enqueue sends to the jobs queue; the dead-letter tooling peeks the DLQs and redrives to their sources.
    queues: { jobs: ['send'], jobsDlq: ['consume', 'send'], alerts: ['send'], alertsDlq: ['consume', 'send'] },
    publishAlerts: true,
    registryCredentials: 'manage',
    settings: ['OPERATOR_AUTH', ...CIRCUIT, ...ALERTING, 'FLEETMEDIC_VERSION'],
  },
  'job-dispatcher': {
    // A failed dispatch follows the job's retry policy, which may ESCALATE (alert).
    tables: { fleet: 'readWrite', jobs: 'readWrite', events: 'readWrite', idempotency: 'readWrite', alerts: 'readWrite' },
    // consume: the event source mapping's, plus ChangeMessageVisibility for backoff and re-sends of held jobs;
    // DLQ send: on the last receive the dispatcher dead-letters the message itself, with its failure reason.
    queues: { jobs: ['consume', 'send'], jobsDlq: ['send'] },
    publishAlerts: true,
    settings: [...CIRCUIT, ...ALERTING],
  },
  'outbox-publisher': {
    tables: { jobs: 'readWrite' },
    // inspect: it reports the jobs DLQ's depth as a metric.
    queues: { jobs: ['send'], jobsDlq: ['inspect'] },
  },
  'job-timeout-sweeper': {
    // A timeout counts against the device's circuit; ESCALATE raises an alert.
    tables: { fleet: 'readWrite', jobs: 'readWrite', events: 'readWrite', alerts: 'readWrite' },
    queues: { jobs: ['send'] },
    publishAlerts: true,
    settings: [...CIRCUIT, ...ALERTING],
  },
  'health-evaluator': {
    tables: { fleet: 'readWrite', jobs: 'readWrite', events: 'readWrite', alerts: 'readWrite' },
    queues: { jobs: ['send'] },
    publishAlerts: true,
    settings: [...LIVENESS, ...RECOVERY, ...ALERTING],
  },
  'slack-forwarder': {
    // Idempotency: a redelivered alert is posted once.
    tables: { idempotency: 'readWrite' },
    // consume: the event source mapping's, plus ChangeMessageVisibility to honour Slack's Retry-After;
    // DLQ send: what Slack still refuses is dead-lettered with its reason.
    queues: { alerts: ['consume'], alertsDlq: ['send'] },
    readSlackWebhook: true,
    settings: ['RUNBOOK_BASE_URL'],
  },
};

export interface GrantableResources {
  tables: Record<TableKey, Table>;
  queues: Partial<Record<QueueKey, IQueue>>;
  alertTopic?: { topic: ITopic; key: IKey };
  slackWebhook?: ISecret;
  /** Name prefix of the registry credential secrets, e.g. `fleetmedic/prod/registry/`. */
  registrySecretPrefix?: string;
}

const READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem', 'dynamodb:DescribeTable'];
const WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];
const INDEX_ACTIONS = ['dynamodb:Query'];
const SEND_ACTIONS = ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'];
const CONSUME_ACTIONS = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'];
const INSPECT_ACTIONS = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl'];
const QUEUE_ACTIONS: Record<QueueAccess, string[]> = { send: SEND_ACTIONS, consume: CONSUME_ACTIONS, inspect: INSPECT_ACTIONS };

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
    for (const l of levels) for (const a of QUEUE_ACTIONS[l]) actions.add(a);
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
  if (access.registryCredentials) {
    if (!res.registrySecretPrefix) throw new Error(`grantAccess: no registry secret prefix for ${fn.node.path}`);
    // Secret ARNs end in `-XXXXXX` (a random suffix): `<prefix>*` covers every credential and nothing else.
    const arn = Stack.of(fn).formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${res.registrySecretPrefix}*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    Grant.addToPrincipal({ grantee: fn, actions: [...REGISTRY_CREDENTIAL_ACTIONS[access.registryCredentials]], resourceArns: [arn] });
    fn.addEnvironment(REGISTRY_SECRET_PREFIX_ENV, res.registrySecretPrefix);
    // The one wildcard is the name after the prefix (credentials are created at run time, by name), acknowledged
    // in cdk-nag's finding format so any other wildcard would still be reported.
    Validations.of(fn.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${res.registrySecretPrefix}*]`,
      reason: 'Registry credentials are secrets created by operators at run time under this name prefix; the grant covers that prefix only.',
    });
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
