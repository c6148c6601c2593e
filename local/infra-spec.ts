/**
 * The stateful resources of the control plane, as data: tables, queues, topic.
 * `provision()` creates them on any AWS endpoint (moto_server, LocalStack) for tests and `npm start`.
 * The CDK constructs are the deployed source of truth; `test/integration/cdk` checks this spec against the
 * synthesized template so local and cloud cannot drift.
 */
export interface TableSpec {
  logicalName: string;
  envVar: string;
  partitionKey: { name: string; type: 'S' | 'N' };
  sortKey?: { name: string; type: 'S' | 'N' };
  ttlAttribute?: string;
  indexes: { name: string; partitionKey: { name: string; type: 'S' | 'N' }; sortKey?: { name: string; type: 'S' | 'N' }; keysOnly?: boolean }[];
}
export interface QueueSpec {
  logicalName: string;
  envVar: string;
  visibilityTimeoutSeconds: number;
  /** Dead-letter queue logical name and how many receives before a message lands there. */
  deadLetter?: { queue: string; maxReceiveCount: number };
  retentionSeconds: number;
}
export interface TopicSpec {
  logicalName: string;
  envVar: string;
  /** Queues subscribed with raw message delivery off (SNS envelope kept). */
  queueSubscriptions: string[];
}
export interface InfraSpec {
  tables: TableSpec[];
  queues: QueueSpec[];
  topics: TopicSpec[];
}

const S = 'S' as const;
const N = 'N' as const;

export const infraSpec: InfraSpec = {
  tables: [
    {
      logicalName: 'fleet',
      envVar: 'FLEET_TABLE',
      partitionKey: { name: 'pk', type: S },
      sortKey: { name: 'sk', type: S },
      ttlAttribute: 'expiresAt',
      indexes: [
        { name: 'devices', partitionKey: { name: 'entity', type: S }, sortKey: { name: 'pk', type: S } },
        { name: 'byOffline', partitionKey: { name: 'offlineShard', type: S }, sortKey: { name: 'offlineAt', type: S }, keysOnly: true },
      ],
    },
    {
      logicalName: 'jobs',
      envVar: 'JOBS_TABLE',
      partitionKey: { name: 'jobId', type: S },
      ttlAttribute: 'expiresAt',
      indexes: [
        { name: 'outbox', partitionKey: { name: 'outboxShard', type: S }, sortKey: { name: 'createdAt', type: S } },
        { name: 'pendingByDevice', partitionKey: { name: 'pendingDeviceId', type: S }, sortKey: { name: 'createdAt', type: S } },
        { name: 'timeouts', partitionKey: { name: 'timeoutShard', type: S }, sortKey: { name: 'timeoutAtEpoch', type: N } },
        { name: 'byDevice', partitionKey: { name: 'deviceId', type: S }, sortKey: { name: 'createdAt', type: S } },
      ],
    },
    {
      logicalName: 'events',
      envVar: 'EVENTS_TABLE',
      partitionKey: { name: 'pk', type: S },
      sortKey: { name: 'sk', type: S },
      ttlAttribute: 'expiresAt',
      indexes: [{ name: 'byDay', partitionKey: { name: 'day', type: S }, sortKey: { name: 'sk', type: S } }],
    },
    {
      logicalName: 'alerts',
      envVar: 'ALERTS_TABLE',
      partitionKey: { name: 'pk', type: S },
      sortKey: { name: 'sk', type: S },
      ttlAttribute: 'expiresAt',
      indexes: [],
    },
    {
      logicalName: 'idempotency',
      envVar: 'IDEMPOTENCY_TABLE',
      partitionKey: { name: 'id', type: S },
      ttlAttribute: 'expiration',
      indexes: [],
    },
  ],
  queues: [
    // maxReceiveCount 5: lower values send healthy messages to the DLQ under throttling.
    { logicalName: 'jobs-dlq', envVar: 'JOBS_DLQ_URL', visibilityTimeoutSeconds: 30, retentionSeconds: 14 * 86400 },
    { logicalName: 'jobs', envVar: 'JOBS_QUEUE_URL', visibilityTimeoutSeconds: 180, retentionSeconds: 4 * 86400, deadLetter: { queue: 'jobs-dlq', maxReceiveCount: 5 } },
    { logicalName: 'alerts-dlq', envVar: 'ALERTS_DLQ_URL', visibilityTimeoutSeconds: 30, retentionSeconds: 14 * 86400 },
    { logicalName: 'alerts', envVar: 'ALERTS_QUEUE_URL', visibilityTimeoutSeconds: 180, retentionSeconds: 4 * 86400, deadLetter: { queue: 'alerts-dlq', maxReceiveCount: 5 } },
  ],
  topics: [{ logicalName: 'alert-topic', envVar: 'ALERT_TOPIC_ARN', queueSubscriptions: ['alerts'] }],
};
