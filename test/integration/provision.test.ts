import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createTestInfra } from '../support/infra.js';
import { provision } from '../../local/provision.js';

const infra = await createTestInfra();
after(() => infra.close());

test('provision creates every table, queue (with DLQ redrive) and topic, and is idempotent', async () => {
  const ddb = new DynamoDBClient({});
  const sqs = new SQSClient({});
  const { Table } = await ddb.send(new DescribeTableCommand({ TableName: infra.env.JOBS_TABLE }));
  assert.deepEqual(Table?.GlobalSecondaryIndexes?.map((g) => g.IndexName).sort(), [
    'byDevice',
    'outbox',
    'pendingByDevice',
    'timeouts',
  ]);
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: infra.env.JOBS_QUEUE_URL, AttributeNames: ['RedrivePolicy'] }),
  );
  assert.equal(JSON.parse(Attributes!.RedrivePolicy!).maxReceiveCount, 5);
  assert.match(infra.env.ALERT_TOPIC_ARN!, /^arn:aws:sns:/);
  const again = await provision(infra.prefix);
  assert.deepEqual(again, infra.env);
});
