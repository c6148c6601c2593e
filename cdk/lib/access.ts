/**
 * What each function may touch, in one table, and the one place that turns it into IAM grants AND environment
 * variables: a function gets the env var of a resource exactly when it gets permissions on it, so its env is
 * exactly the ids it needs and its role exactly the actions it needs.
 *
 * Grants are exact: per table the DynamoDB calls the code makes on it, Query on exactly the GSIs it reads, per
 * queue the SQS calls, GetSecretValue on exactly the Slack webhook secrets configured. Actions are named one by one (no `service:*`, no
 * `kms:GenerateDataKey*`) and resources explicitly; the only resource wildcard is the registry credentials' name
 * prefix (and X-Ray's Resource "*", in a policy of its own: cdk/lib/fleet-function.ts).
 * test/unit/cdk/handler-needs.test.ts derives the same from each handler's bundled code and fails on a grant
 * missing AND on a grant nobody calls. To declare a need: add the action to the table/queue entry of each
 * function whose code makes the call (an index: its name under `indexes`), then run that test.
 */
import { ArnFormat, Stack, Validations } from 'aws-cdk-lib';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { ALERT_TOPIC, QUEUES, TABLES, type FunctionName, type TableKey } from '../../infra/spec.js';

/** The DynamoDB calls a function makes on a table's items (an index only ever gets Query). */
export type DynamoAction = 'GetItem' | 'BatchGetItem' | 'Query' | 'PutItem' | 'UpdateItem' | 'DeleteItem';
export interface TableAccess {
  actions: readonly DynamoAction[];
  /** GSIs the code queries, by name (Query on each, nothing else). */
  indexes?: readonly string[];
}
export type QueueKey = 'jobs' | 'jobsDlq' | 'alerts' | 'alertsDlq';
/**
 * The SQS calls a function makes on a queue. A queue that triggers the function (event source mapping) needs
 * ReceiveMessage, DeleteMessage and GetQueueAttributes for Lambda's poller, which uses the function's role.
 */
export type QueueAction =
  | 'SendMessage'
  | 'ReceiveMessage'
  | 'DeleteMessage'
  | 'ChangeMessageVisibility'
  | 'GetQueueAttributes';
/** What Lambda's SQS poller calls with the function's role (event source mapping). */
export const TRIGGER_QUEUE_ACTIONS: readonly QueueAction[] = ['ReceiveMessage', 'DeleteMessage', 'GetQueueAttributes'];

export interface ResourceAccess {
  tables?: Partial<Record<TableKey, TableAccess>>;
  queues?: Partial<Record<QueueKey, readonly QueueAction[]>>;
  publishAlerts?: boolean;
  readSlackWebhook?: boolean;
  /**
   * Private registry credentials (secrets named `<registrySecretPrefix><name>`): `read` = GetSecretValue (the
   * device channel hands them to the devices whose target names them); `manage` = create/rotate/delete and
   * existence checks, never the value (operators). Scoped to the name prefix only.
   */
  registryCredentials?: 'read' | 'manage';
  /**
   * Posts push notifications to devices (cdk/lib/device-push.ts grantNotify: execute-api:ManageConnections on the
   * push stage's @connections, and PUSH_CALLBACK_URL).
   */
  notifyDevices?: boolean;
  /** Stage settings (env names from cdk/lib/stage-config.ts stageSettings) the function's code reads. */
  settings?: readonly string[];
}

const CIRCUIT = ['CIRCUIT_FAILURE_THRESHOLD', 'CIRCUIT_COOLDOWN_SECONDS', 'CIRCUIT_MAX_COOLDOWN_SECONDS'] as const;
const LIVENESS = [
  'HEARTBEAT_SECONDS',
  'OFFLINE_AFTER_SECONDS',
  'ACTIVE_SYNC_SECONDS',
  'ACTIVE_WINDOW_SECONDS',
] as const;
const RECOVERY = ['RECOVERY_MAX_ATTEMPTS', 'RECOVERY_WINDOW_SECONDS'] as const;
const RECOVERY_ALERT = ['RECOVERY_ALERT_THRESHOLD', 'RECOVERY_ALERT_MIN_ATTEMPTS'] as const;
const DAILY_SUMMARY_SETTINGS = ['DAILY_SUMMARY_TIME', 'DAILY_SUMMARY_TIMEZONE', 'DAILY_SUMMARY_ALL_CLEAR'] as const;
const ALERTING = ['ALERT_COOLDOWN_SECONDS', 'ALERT_GROUP_WAIT_SECONDS', 'RUNBOOK_BASE_URL'] as const;

export const QUEUE_ENV: Record<QueueKey, string> = {
  jobs: QUEUES.jobs.envVar,
  jobsDlq: QUEUES['jobs-dlq'].envVar,
  alerts: QUEUES.alerts.envVar,
  alertsDlq: QUEUES['alerts-dlq'].envVar,
};
export const ALERT_TOPIC_ENV = ALERT_TOPIC.envVar;
export const SLACK_SECRET_ENV = 'SLACK_WEBHOOK_SECRET_ID';
export type SlackChannelKey = 'critical' | 'warning';
/** The channels' own webhook secrets (functions/lib/config.ts reads the same names). */
export const SLACK_CHANNEL_SECRET_ENV: Record<SlackChannelKey, string> = {
  critical: 'SLACK_WEBHOOK_CRITICAL_SECRET_ID',
  warning: 'SLACK_WEBHOOK_WARNING_SECRET_ID',
};
export const REGISTRY_SECRET_PREFIX_ENV = 'REGISTRY_SECRET_PREFIX';
export const PUSH_CALLBACK_ENV = 'PUSH_CALLBACK_URL';
/** Exactly the calls functions/adapters/registry-credentials.ts (read) and registry-credential-store.ts (manage) make. */
export const REGISTRY_CREDENTIAL_ACTIONS = {
  read: ['secretsmanager:GetSecretValue'],
  manage: [
    'secretsmanager:DescribeSecret',
    'secretsmanager:CreateSecret',
    'secretsmanager:PutSecretValue',
    'secretsmanager:DeleteSecret',
  ],
} as const;

/**
 * Per function: which tables, queues, topic, secret and stage settings its code uses (the handlers and the
 * adapters they import; test/unit/cdk/handler-needs.test.ts derives the same from the bundled code).
 */
export const FUNCTION_ACCESS: Record<FunctionName, ResourceAccess> = {
  'device-api': {
    // Each report is also evaluated in-process (health policy): it may enqueue a recovery job and raise alerts.
    tables: {
      fleet: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'Query'] },
      jobs: { actions: ['GetItem', 'PutItem', 'UpdateItem'], indexes: ['pendingByDevice'] },
      events: { actions: ['PutItem'] },
      // Query: the silences an alert raise checks.
      alerts: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query'] },
    },
    queues: { jobs: ['SendMessage'] },
    publishAlerts: true,
    registryCredentials: 'read',
    settings: ['OPERATOR_AUTH', ...CIRCUIT, ...LIVENESS, ...RECOVERY, ...ALERTING],
  },
  'operator-api': {
    // A job the operator cancels or that fails through it follows its retry policy, which may ESCALATE (alert).
    // byDevice: a decommissioned device's open jobs are cancelled.
    tables: {
      fleet: {
        actions: ['GetItem', 'BatchGetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query'],
        // byOpenCircuit: "reset all circuits" finds the circuits that are not closed.
        indexes: ['devices', 'byOpenCircuit'],
      },
      jobs: { actions: ['GetItem', 'PutItem', 'UpdateItem'], indexes: ['byDevice'] },
      // GetItem on events: the deep health check's probe read (services/health-check.ts).
      events: { actions: ['GetItem', 'PutItem', 'Query'], indexes: ['byDay', 'byType'] },
      // Query: the silences partition (listing them, and every alert raise checks them).
      alerts: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query'] },
      // Rollouts: created (PutItem), read and listed (GetItem, Query), paused/resumed/aborted (UpdateItem, a
      // conditional status change), and an aborted one leaves the controller's ACTIVE list (DeleteItem).
      rollouts: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query'] },
    },
    // Enqueue sends to the jobs queue; the dead-letter tooling peeks the DLQs (receive, then hand the message back
    // at once with ChangeMessageVisibility), counts them, and redrives (send to the source, delete from the DLQ).
    // GetQueueAttributes on every queue: the deep health check asks each for its ARN.
    queues: {
      jobs: ['SendMessage', 'GetQueueAttributes'],
      jobsDlq: ['ReceiveMessage', 'DeleteMessage', 'ChangeMessageVisibility', 'GetQueueAttributes', 'SendMessage'],
      alerts: ['SendMessage', 'GetQueueAttributes'],
      alertsDlq: ['ReceiveMessage', 'DeleteMessage', 'ChangeMessageVisibility', 'GetQueueAttributes', 'SendMessage'],
    },
    publishAlerts: true,
    registryCredentials: 'manage',
    // A changed target (PUT target) tells the device to sync now.
    notifyDevices: true,
    settings: ['OPERATOR_AUTH', ...CIRCUIT, ...ALERTING, ...RECOVERY_ALERT, 'FLEETMEDIC_VERSION'],
  },
  'job-dispatcher': {
    // A failed dispatch follows the job's retry policy, which may ESCALATE (alert).
    tables: {
      fleet: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'] },
      jobs: { actions: ['GetItem', 'UpdateItem'] },
      events: { actions: ['PutItem'] },
      // Query: the silences an alert raise checks.
      alerts: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query'] },
      idempotency: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'] },
    },
    // The jobs queue triggers it; ChangeMessageVisibility for backoff, SendMessage for re-sends of held jobs;
    // DLQ send: on the last receive the dispatcher dead-letters the message itself, with its failure reason.
    queues: { jobs: [...TRIGGER_QUEUE_ACTIONS, 'ChangeMessageVisibility', 'SendMessage'], jobsDlq: ['SendMessage'] },
    publishAlerts: true,
    // A job on the device's pending list (or a target applied cloud-side) tells the device to sync now; a gone
    // connection is forgotten (DeleteItem on the fleet table).
    notifyDevices: true,
    settings: [...CIRCUIT, ...ALERTING],
  },
  'outbox-publisher': {
    tables: { jobs: { actions: ['UpdateItem'], indexes: ['outbox'] } },
    // GetQueueAttributes: it reports the jobs DLQ's depth as a metric.
    queues: { jobs: ['SendMessage'], jobsDlq: ['GetQueueAttributes'] },
  },
  'job-timeout-sweeper': {
    // A timeout counts against the device's circuit; ESCALATE raises an alert.
    tables: {
      fleet: { actions: ['GetItem', 'PutItem', 'UpdateItem'] },
      jobs: { actions: ['GetItem', 'UpdateItem'], indexes: ['timeouts'] },
      events: { actions: ['PutItem'] },
      // Query: the silences an alert raise checks.
      alerts: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query'] },
    },
    queues: { jobs: ['SendMessage'] },
    publishAlerts: true,
    settings: [...CIRCUIT, ...ALERTING],
  },
  'health-evaluator': {
    // Offline detection and the recovery success rate (Query on the fleet's hourly counters); recovery jobs are
    // enqueued by the per-report evaluation (device-api).
    // The daily summary: events by type (byType), the DLQs' depth, its once-a-day claim in the alerts table.
    tables: {
      fleet: { actions: ['GetItem', 'UpdateItem', 'Query'], indexes: ['byOffline'] },
      events: { actions: ['PutItem'], indexes: ['byType'] },
      alerts: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query'] },
    },
    queues: { jobsDlq: ['GetQueueAttributes'], alertsDlq: ['GetQueueAttributes'] },
    publishAlerts: true,
    settings: [...LIVENESS, ...RECOVERY, ...RECOVERY_ALERT, ...DAILY_SUMMARY_SETTINGS, ...ALERTING],
  },
  'rollout-controller': {
    // Fleet: the devices' TARGET/CIRCUIT/MARKER/STATE (BatchGetItem), targets moved and rolled back (PutItem,
    // GetItem), the push connection looked up and forgotten when gone (GetItem, DeleteItem).
    tables: {
      fleet: { actions: ['GetItem', 'BatchGetItem', 'PutItem', 'DeleteItem'] },
      events: { actions: ['PutItem'] },
      rollouts: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query'] },
      // An abort by a criterion, or a completion with failures, raises one alert (Query: the silences it checks).
      alerts: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query'] },
      // A job rollout enqueues each device's job through the outbox (PutItem, then UpdateItem once published)
      // and reads its status (GetItem).
      jobs: { actions: ['GetItem', 'PutItem', 'UpdateItem'] },
    },
    queues: { jobs: ['SendMessage'] },
    publishAlerts: true,
    // Moved and rolled-back devices are told to sync now.
    notifyDevices: true,
    settings: [...ALERTING],
  },
  'device-socket': {
    // $connect: the device's token hashes (GetItem), the connection items (PutItem); $disconnect: the owner
    // (GetItem), removal (DeleteItem), the clean-goodbye mark on the liveness item (UpdateItem).
    tables: { fleet: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'] } },
  },
  'slack-forwarder': {
    // Idempotency: a redelivered alert is posted once.
    tables: { idempotency: { actions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'] } },
    // The alerts queue triggers it; ChangeMessageVisibility honours Slack's Retry-After;
    // DLQ send: what Slack still refuses is dead-lettered with its reason.
    queues: { alerts: [...TRIGGER_QUEUE_ACTIONS, 'ChangeMessageVisibility'], alertsDlq: ['SendMessage'] },
    readSlackWebhook: true,
    settings: ['RUNBOOK_BASE_URL'],
  },
};

export interface GrantableResources {
  tables: Record<TableKey, Table>;
  queues: Partial<Record<QueueKey, IQueue>>;
  alertTopic?: { topic: ITopic; key: IKey };
  slackWebhook?: ISecret;
  /** The Slack channels' own webhook secrets, where configured (granted and put in the env with the default one). */
  slackChannelWebhooks?: Partial<Record<SlackChannelKey, ISecret>>;
  /** Name prefix of the registry credential secrets, e.g. `fleetmedic/prod/registry/`. */
  registrySecretPrefix?: string;
}

/** Grants `fn` what `access` lists and sets the matching env vars (and nothing else). */
export function grantAccess(fn: LambdaFunction, access: ResourceAccess, res: GrantableResources): void {
  for (const [key, tableAccess] of Object.entries(access.tables ?? {}) as [TableKey, TableAccess][]) {
    const table = res.tables[key];
    grantTable(fn, table, key, tableAccess);
    fn.addEnvironment(TABLES[key].envVar, table.tableName);
  }
  for (const [key, actions] of Object.entries(access.queues ?? {}) as [QueueKey, readonly QueueAction[]][]) {
    const queue = res.queues[key];
    if (!queue) throw new Error(`grantAccess: queue ${key} is not created before ${fn.node.path}`);
    Grant.addToPrincipal({
      grantee: fn,
      actions: [...new Set(actions)].map((a) => `sqs:${a}`),
      resourceArns: [queue.queueArn],
    });
    fn.addEnvironment(QUEUE_ENV[key], queue.queueUrl);
  }
  if (access.publishAlerts) {
    if (!res.alertTopic) throw new Error(`grantAccess: the alert topic is not created before ${fn.node.path}`);
    grantPublish(fn, res.alertTopic.topic, res.alertTopic.key);
    fn.addEnvironment(ALERT_TOPIC_ENV, res.alertTopic.topic.topicArn);
  }
  if (access.readSlackWebhook) {
    if (!res.slackWebhook)
      throw new Error(`grantAccess: the Slack webhook secret is not defined before ${fn.node.path}`);
    // GetSecretValue on these secrets only: the one call the forwarder makes (Secret.grantRead would add
    // DescribeSecret). A secret imported by name has no full ARN; `-??????` matches its random suffix.
    const arnOf = (s: ISecret) => s.secretFullArn ?? `${s.secretArn}-??????`;
    const channels = Object.entries(res.slackChannelWebhooks ?? {}) as [SlackChannelKey, ISecret | undefined][];
    const secrets = [res.slackWebhook, ...channels.flatMap(([, s]) => (s ? [s] : []))];
    Grant.addToPrincipal({
      grantee: fn,
      actions: ['secretsmanager:GetSecretValue'],
      resourceArns: [...new Set(secrets.map(arnOf))],
    });
    // The secrets' NAMEs, never their values: the forwarder fetches the URLs at runtime.
    fn.addEnvironment(SLACK_SECRET_ENV, res.slackWebhook.secretName);
    for (const [channel, secret] of channels)
      if (secret) fn.addEnvironment(SLACK_CHANNEL_SECRET_ENV[channel], secret.secretName);
  }
  if (access.registryCredentials) {
    if (!res.registrySecretPrefix) throw new Error(`grantAccess: no registry secret prefix for ${fn.node.path}`);
    // Secret ARNs end in `-XXXXXX` (a random suffix): `<prefix>*` covers every credential and nothing else.
    const arn = Stack.of(fn).formatArn({
      service: 'secretsmanager',
      resource: 'secret',
      resourceName: `${res.registrySecretPrefix}*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    Grant.addToPrincipal({
      grantee: fn,
      actions: [...REGISTRY_CREDENTIAL_ACTIONS[access.registryCredentials]],
      resourceArns: [arn],
    });
    fn.addEnvironment(REGISTRY_SECRET_PREFIX_ENV, res.registrySecretPrefix);
    // The one wildcard is the name after the prefix (credentials are created at run time, by name), acknowledged
    // in cdk-nag's finding format so any other wildcard would still be reported.
    Validations.of(fn.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${res.registrySecretPrefix}*]`,
      reason:
        'Registry credentials are secrets created by operators at run time under this name prefix; the grant covers that prefix only.',
    });
  }
}

function grantTable(grantee: IGrantable, table: Table, key: TableKey, access: TableAccess): void {
  if (access.actions.length)
    Grant.addToPrincipal({
      grantee,
      actions: [...new Set(access.actions)].map((a) => `dynamodb:${a}`),
      resourceArns: [table.tableArn],
    });
  const known = new Set(TABLES[key].indexes.map((i) => i.name));
  for (const name of access.indexes ?? [])
    if (!known.has(name)) throw new Error(`grantAccess: table ${key} has no index ${name}`);
  const indexes = (access.indexes ?? []).map((name) => `${table.tableArn}/index/${name}`);
  if (indexes.length) Grant.addToPrincipal({ grantee, actions: ['dynamodb:Query'], resourceArns: indexes });
}

/** sns:Publish plus exactly the two KMS calls SNS makes for an encrypted topic (Topic.grantPublish adds GenerateDataKey*). */
export function grantPublish(grantee: IGrantable, topic: ITopic, key: IKey): void {
  Grant.addToPrincipal({ grantee, actions: ['sns:Publish'], resourceArns: [topic.topicArn] });
  Grant.addToPrincipal({ grantee, actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resourceArns: [key.keyArn] });
}
