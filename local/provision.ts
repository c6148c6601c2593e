/**
 * Creates the control plane's tables, queues and topic on the configured AWS endpoint.
 * Idempotent: existing resources are kept (so `npm start` state persists between runs).
 * Returns the environment the handlers need (table names, queue URLs, topic ARN).
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  type AttributeDefinition,
  type GlobalSecondaryIndex,
} from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { INFRA as defaultSpec, type InfraSpec, type TableSpec } from '../infra/spec.js';

export type ProvisionedEnv = Record<string, string>;

/** `client` overrides the SDK client settings, e.g. `{ endpoint }` to reach an emulator behind a proxy directly. */
export interface ClientOverrides {
  endpoint?: string;
}

export async function provision(
  prefix: string,
  spec: InfraSpec = defaultSpec,
  client: ClientOverrides = {},
): Promise<ProvisionedEnv> {
  const ddb = new DynamoDBClient({ ...client });
  const sqs = new SQSClient({ ...client });
  const sns = new SNSClient({ ...client });
  const env: ProvisionedEnv = {};
  try {
    await Promise.all(
      spec.tables.map(async (t) => {
        const name = `${prefix}-${t.logicalName}`;
        await createTable(ddb, name, t);
        env[t.envVar] = name;
      }),
    );
    const queueArns: Record<string, string> = {};
    const queueUrls: Record<string, string> = {};
    // DLQs first: the source queues' redrive policies name them.
    const ordered = [...spec.queues].sort((a, b) => Number(!!a.deadLetter) - Number(!!b.deadLetter));
    for (const q of ordered) {
      const attributes: Record<string, string> = {
        VisibilityTimeout: String(q.visibilityTimeoutSeconds),
        MessageRetentionPeriod: String(q.retentionSeconds),
      };
      if (q.deadLetter) {
        const dlqArn = queueArns[q.deadLetter.queue];
        if (!dlqArn)
          throw new Error(`queue ${q.logicalName}: dead-letter queue ${q.deadLetter.queue} not defined before it`);
        attributes.RedrivePolicy = JSON.stringify({
          deadLetterTargetArn: dlqArn,
          maxReceiveCount: q.deadLetter.maxReceiveCount,
        });
      }
      const { QueueUrl } = await sqs.send(
        new CreateQueueCommand({ QueueName: `${prefix}-${q.logicalName}`, Attributes: attributes }),
      );
      const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
      queueUrls[q.logicalName] = QueueUrl!;
      queueArns[q.logicalName] = Attributes!.QueueArn!;
      env[q.envVar] = QueueUrl!;
    }
    for (const topic of spec.topics) {
      const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: `${prefix}-${topic.logicalName}` }));
      env[topic.envVar] = TopicArn!;
      for (const q of topic.queueSubscriptions) {
        // Subscribe is idempotent for the same endpoint.
        await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: queueArns[q] }));
      }
    }
    return env;
  } finally {
    ddb.destroy();
    sqs.destroy();
    sns.destroy();
  }
}

async function createTable(ddb: DynamoDBClient, name: string, t: TableSpec): Promise<void> {
  const attrs = new Map<string, 'S' | 'N'>();
  const add = (k?: { name: string; type: 'S' | 'N' }) => k && attrs.set(k.name, k.type);
  add(t.partitionKey);
  add(t.sortKey);
  const gsis: GlobalSecondaryIndex[] = t.indexes.map((i) => {
    add(i.partitionKey);
    add(i.sortKey);
    return {
      IndexName: i.name,
      KeySchema: [
        { AttributeName: i.partitionKey.name, KeyType: 'HASH' },
        ...(i.sortKey ? [{ AttributeName: i.sortKey.name, KeyType: 'RANGE' as const }] : []),
      ],
      Projection: { ProjectionType: i.keysOnly ? 'KEYS_ONLY' : 'ALL' },
    };
  });
  const AttributeDefinitions: AttributeDefinition[] = [...attrs].map(([AttributeName, AttributeType]) => ({
    AttributeName,
    AttributeType,
  }));
  try {
    await ddb.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions,
        KeySchema: [
          { AttributeName: t.partitionKey.name, KeyType: 'HASH' },
          ...(t.sortKey ? [{ AttributeName: t.sortKey.name, KeyType: 'RANGE' as const }] : []),
        ],
        ...(gsis.length ? { GlobalSecondaryIndexes: gsis } : {}),
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
    return;
  }
  for (let i = 0; i < 100; i++) {
    const { Table } = await ddb.send(new DescribeTableCommand({ TableName: name }));
    if (Table?.TableStatus === 'ACTIVE') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (t.ttlAttribute) {
    await ddb.send(
      new UpdateTimeToLiveCommand({
        TableName: name,
        TimeToLiveSpecification: { AttributeName: t.ttlAttribute, Enabled: true },
      }),
    );
  }
}
