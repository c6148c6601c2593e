/**
 * The control plane's infrastructure as plain data: the six tables (keys, indexes, TTL), the four queues
 * (visibility, retention, redrive), the alert topic, and the nine functions with what triggers them (a queue,
 * a schedule or the HTTP API). The one place to change any of it.
 *
 * Two readers, neither of which the other imports: the CDK constructs (cdk/lib) deploy it, and the local fleet
 * (local/) provisions it on an AWS emulator and runs the functions as Lambda would. Kept free of aws-cdk-lib
 * and the AWS SDK so either side loads it for nothing. docs/architecture.md ("Data model") explains the tables.
 */

export type AttributeType = 'S' | 'N';
export interface KeySpec {
  name: string;
  type: AttributeType;
}
export interface IndexSpec {
  name: string;
  partitionKey: KeySpec;
  sortKey?: KeySpec;
  /** The index copies only the keys (an index that is only counted or listed by key). */
  keysOnly?: boolean;
}
export interface TableSpec {
  /** Short name: the local table is `<prefix>-<logicalName>`, the CDK construct id its PascalCase form. */
  logicalName: TableKey;
  /** The environment variable that gives a function the table's name. */
  envVar: string;
  partitionKey: KeySpec;
  sortKey?: KeySpec;
  ttlAttribute: string;
  indexes: IndexSpec[];
}
export interface QueueSpec {
  logicalName: QueueKey;
  envVar: string;
  visibilityTimeoutSeconds: number;
  retentionSeconds: number;
  /** Dead-letter queue and how many receives before a message lands there. */
  deadLetter?: { queue: QueueKey; maxReceiveCount: number };
}
export interface TopicSpec {
  logicalName: string;
  envVar: string;
  /** Queues subscribed with raw message delivery off (the SNS envelope kept). */
  queueSubscriptions: QueueKey[];
}
export interface InfraSpec {
  tables: TableSpec[];
  queues: QueueSpec[];
  topics: TopicSpec[];
}

export type TableKey = 'fleet' | 'jobs' | 'events' | 'alerts' | 'rollouts' | 'idempotency';
export type QueueKey = 'jobs' | 'jobs-dlq' | 'alerts' | 'alerts-dlq';

const S = 'S' as const;
const N = 'N' as const;

export const TABLES: Record<TableKey, TableSpec> = {
  fleet: {
    logicalName: 'fleet',
    envVar: 'FLEET_TABLE',
    partitionKey: { name: 'pk', type: S },
    sortKey: { name: 'sk', type: S },
    ttlAttribute: 'expiresAt',
    indexes: [
      { name: 'devices', partitionKey: { name: 'entity', type: S }, sortKey: { name: 'pk', type: S } },
      // Sparse, the other way round: only offline devices carry offlineShard. The evaluator counts it each run
      // (the devices_offline gauge behind the DevicesOffline alarm); keys only, so a count reads ~100 B a device.
      {
        name: 'byOffline',
        partitionKey: { name: 'offlineShard', type: S },
        sortKey: { name: 'offlineAt', type: S },
        keysOnly: true,
      },
      // Sparse: only a circuit that is not closed (open or half-open) carries openCircuitShard, so "reset all
      // circuits" finds them with one Query per shard instead of reading every device (circuit-repo.ts).
      {
        name: 'byOpenCircuit',
        partitionKey: { name: 'openCircuitShard', type: S },
        sortKey: { name: 'pk', type: S },
        keysOnly: true,
      },
    ],
  },
  jobs: {
    logicalName: 'jobs',
    envVar: 'JOBS_TABLE',
    partitionKey: { name: 'jobId', type: S },
    ttlAttribute: 'expiresAt',
    indexes: [
      { name: 'outbox', partitionKey: { name: 'outboxShard', type: S }, sortKey: { name: 'createdAt', type: S } },
      {
        name: 'pendingByDevice',
        partitionKey: { name: 'pendingDeviceId', type: S },
        sortKey: { name: 'createdAt', type: S },
      },
      {
        name: 'timeouts',
        partitionKey: { name: 'timeoutShard', type: S },
        sortKey: { name: 'timeoutAtEpoch', type: N },
      },
      { name: 'byDevice', partitionKey: { name: 'deviceId', type: S }, sortKey: { name: 'createdAt', type: S } },
    ],
  },
  events: {
    logicalName: 'events',
    envVar: 'EVENTS_TABLE',
    partitionKey: { name: 'pk', type: S },
    sortKey: { name: 'sk', type: S },
    ttlAttribute: 'expiresAt',
    indexes: [
      { name: 'byDay', partitionKey: { name: 'day', type: S }, sortKey: { name: 'sk', type: S } },
      // Recent events of one type fleet-wide (`fleetmedic events --type service.error`), newest first, without
      // reading other types: `typeShard` is `<type>#<n>` (functions/domain/shards.ts, EVENT_TYPE_SHARDS).
      { name: 'byType', partitionKey: { name: 'typeShard', type: S }, sortKey: { name: 'sk', type: S } },
    ],
  },
  alerts: {
    logicalName: 'alerts',
    envVar: 'ALERTS_TABLE',
    partitionKey: { name: 'pk', type: S },
    sortKey: { name: 'sk', type: S },
    ttlAttribute: 'expiresAt',
    indexes: [],
  },
  // Fleet rollouts: each rollout's state, frozen device set (in chunks) and per-device records under one
  // partition; `LIST` and `ACTIVE` partitions list them (functions/adapters/rollouts-repo.ts). No index.
  rollouts: {
    logicalName: 'rollouts',
    envVar: 'ROLLOUTS_TABLE',
    partitionKey: { name: 'pk', type: S },
    sortKey: { name: 'sk', type: S },
    ttlAttribute: 'expiresAt',
    indexes: [],
  },
  idempotency: {
    logicalName: 'idempotency',
    envVar: 'IDEMPOTENCY_TABLE',
    partitionKey: { name: 'id', type: S },
    // Powertools idempotency's attribute name.
    ttlAttribute: 'expiration',
    indexes: [],
  },
};

/** The functions of docs/architecture.md, by the name of their handler file (functions/handlers/<name>.ts). */
export const FUNCTION_NAMES = [
  'device-api',
  'operator-api',
  'job-dispatcher',
  'outbox-publisher',
  'job-timeout-sweeper',
  'health-evaluator',
  'rollout-controller',
  'slack-forwarder',
  'device-socket',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** An SQS queue invoking a function in batches (Lambda's event source mapping). */
export interface QueueTriggerSpec {
  queue: QueueKey;
  batchSize: number;
  /** Keep receiving up to this long to fill a batch; 0: hand over what one receive got. */
  maxBatchingWindowSeconds: number;
  /** The function answers with partial batch failures (only the failed messages come back). */
  reportBatchItemFailures: true;
  /** Most concurrent invocations the queue may start (the mapping's scaling limit). */
  maxConcurrency: number;
}
export interface FunctionSpec {
  timeoutSeconds: number;
  memoryMb: number;
  /** What invokes it: the HTTP API's routes (functions/contract/routes.ts), a queue, or a fixed-rate schedule. */
  trigger:
    | { kind: 'http' }
    | ({ kind: 'queue' } & QueueTriggerSpec)
    | { kind: 'schedule'; everyMinutes: number }
    | { kind: 'websocket' };
}

/** API Gateway gives an integration at most 30 s; the API functions stay below it. */
const API_TIMEOUT_SECONDS = 25;
/** A scheduled run finishes before the next one (every minute) is due. */
const SCHEDULE_TIMEOUT_SECONDS = 55;

export const FUNCTIONS: Record<FunctionName, FunctionSpec> = {
  'device-api': { timeoutSeconds: 10, memoryMb: 512, trigger: { kind: 'http' } },
  'operator-api': { timeoutSeconds: API_TIMEOUT_SECONDS, memoryMb: 512, trigger: { kind: 'http' } },
  'job-dispatcher': {
    timeoutSeconds: 30,
    memoryMb: 256,
    // A scale limit on the event source rather than reserved concurrency: reserved concurrency makes Lambda
    // throttle the pollers, which burns receives and sends healthy messages to the DLQ.
    trigger: {
      kind: 'queue',
      queue: 'jobs',
      batchSize: 10,
      maxBatchingWindowSeconds: 1,
      reportBatchItemFailures: true,
      maxConcurrency: 10,
    },
  },
  'outbox-publisher': {
    timeoutSeconds: SCHEDULE_TIMEOUT_SECONDS,
    memoryMb: 256,
    trigger: { kind: 'schedule', everyMinutes: 1 },
  },
  'job-timeout-sweeper': {
    timeoutSeconds: SCHEDULE_TIMEOUT_SECONDS,
    memoryMb: 256,
    trigger: { kind: 'schedule', everyMinutes: 1 },
  },
  'health-evaluator': {
    timeoutSeconds: SCHEDULE_TIMEOUT_SECONDS,
    memoryMb: 512,
    trigger: { kind: 'schedule', everyMinutes: 1 },
  },
  'rollout-controller': {
    timeoutSeconds: SCHEDULE_TIMEOUT_SECONDS,
    memoryMb: 256,
    trigger: { kind: 'schedule', everyMinutes: 1 },
  },
  'slack-forwarder': {
    // The forwarder retries Slack 429/5xx (honouring Retry-After) inside one invocation; 30 s bounds that.
    timeoutSeconds: 30,
    memoryMb: 256,
    // Slack's incoming webhooks allow about one message per second: two pollers at most.
    trigger: {
      kind: 'queue',
      queue: 'alerts',
      batchSize: 10,
      maxBatchingWindowSeconds: 0,
      reportBatchItemFailures: true,
      maxConcurrency: 2,
    },
  },
  // The push channel's routes (PUSH_CHANNEL below); each invocation is one small read or write.
  'device-socket': { timeoutSeconds: 10, memoryMb: 256, trigger: { kind: 'websocket' } },
};

/**
 * The push channel (docs/architecture.md "Push channel"): an API Gateway WebSocket API whose routes all invoke
 * `device-socket`. Route selection on the frame's `action`; only `$default` sends its answer back (a pong or an
 * error frame). API Gateway's own limits are listed so the local emulation and the agent's defaults agree with them.
 */
export const PUSH_CHANNEL = {
  stageName: 'live',
  routeSelectionExpression: '$request.body.action',
  routes: ['$connect', '$disconnect', '$default'],
  returnResponse: ['$default'],
  /** API Gateway closes a connection idle (no frame from the client) this long… */
  idleTimeoutSeconds: 600,
  /** …and any connection after this long. */
  maxConnectionSeconds: 7200,
} as const;

export type ScheduledFunctionName =
  | 'outbox-publisher'
  | 'job-timeout-sweeper'
  | 'health-evaluator'
  | 'rollout-controller';
/** The functions run on a schedule, in the order the local fleet lists them. */
export const SCHEDULED_FUNCTIONS: readonly ScheduledFunctionName[] = [
  'health-evaluator',
  'outbox-publisher',
  'job-timeout-sweeper',
  'rollout-controller',
];

/** Receives before SQS moves a message to the dead-letter queue; lower values dead-letter healthy messages under throttling (AWS's guidance). */
export const MAX_RECEIVE_COUNT = 5;
/** A queue's visibility timeout is at least this many times its consumer's timeout (AWS's Lambda + SQS guidance). */
export const VISIBILITY_FACTOR = 6;
/** A dead-letter queue keeps messages 14 days (the SQS maximum) so on-call has time to look. */
export const DEAD_LETTER_QUEUE = { visibilityTimeoutSeconds: 30, retentionSeconds: 14 * 86400 } as const;
const WORK_QUEUE_RETENTION_SECONDS = 4 * 86400;

function workQueue(logicalName: QueueKey, envVar: string, consumer: FunctionName, deadLetter: QueueKey): QueueSpec {
  return {
    logicalName,
    envVar,
    visibilityTimeoutSeconds: FUNCTIONS[consumer].timeoutSeconds * VISIBILITY_FACTOR,
    retentionSeconds: WORK_QUEUE_RETENTION_SECONDS,
    deadLetter: { queue: deadLetter, maxReceiveCount: MAX_RECEIVE_COUNT },
  };
}

export const QUEUES: Record<QueueKey, QueueSpec> = {
  'jobs-dlq': { logicalName: 'jobs-dlq', envVar: 'JOBS_DLQ_URL', ...DEAD_LETTER_QUEUE },
  jobs: workQueue('jobs', 'JOBS_QUEUE_URL', 'job-dispatcher', 'jobs-dlq'),
  'alerts-dlq': { logicalName: 'alerts-dlq', envVar: 'ALERTS_DLQ_URL', ...DEAD_LETTER_QUEUE },
  alerts: workQueue('alerts', 'ALERTS_QUEUE_URL', 'slack-forwarder', 'alerts-dlq'),
};

export const ALERT_TOPIC: TopicSpec = {
  logicalName: 'alert-topic',
  envVar: 'ALERT_TOPIC_ARN',
  queueSubscriptions: ['alerts'],
};

/** One condition of an SNS subscription filter policy on a message attribute (SNS's own JSON form). */
export type FilterCondition = string | { numeric: ['=', number] } | { exists: boolean };
/**
 * Where alert events go besides Slack (which gets every one): SNS subscription filter policies on the message
 * attributes functions/adapters/alert-publication.ts sets. `level` (not `severity`) so a resolution, which is INFO,
 * reaches the destination that got the page. docs/runbook.md "How alerts reach you".
 */
export const ALERT_ROUTES: Record<'pager' | 'warning', Record<string, FilterCondition[]>> = {
  /** Level 3 (CRITICAL) pages, unless the service's target says `notifyOnFail: false` (attribute notifyOnFail). */
  pager: { level: [{ numeric: ['=', 3] }], notifyOnFail: [{ exists: false }] },
  /** Level 2 (WARNING): manual intervention, working hours. */
  warning: { level: [{ numeric: ['=', 2] }] },
};

/** Everything above as lists, for code that walks all of it (provisioning, state dumps). */
export const INFRA: InfraSpec = {
  tables: Object.values(TABLES),
  queues: Object.values(QUEUES),
  topics: [ALERT_TOPIC],
};

/** The fleet size a stage is sized for when none is declared (API throttle, alarm thresholds). */
export const DEFAULT_FLEET_SIZE = 1000;

/**
 * The daily summary to Slack (docs/runbook.md "DailySummary"): once a day at `time` (24 h clock) in the IANA
 * `timezone`; with nothing to report, a one-line all-clear, or nothing when `allClear` is `silent`. The health
 * evaluator's every-minute run sends it once the time has passed (exactly once a day: a claim per local date), so a
 * missed minute is caught up rather than lost. Stages override it (cdk/lib/stage-config.ts: dailySummaryTime,
 * dailySummaryTimezone, dailySummaryAllClear); the local fleet runs these defaults.
 */
export const DAILY_SUMMARY = { time: '08:00', timezone: 'UTC', allClear: 'post' as 'post' | 'silent' };
