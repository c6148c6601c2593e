/**
 * AWS SDK v3 clients, created once per process (Lambda init or the local fleet).
 * The SDK itself honours AWS_ENDPOINT_URL, so moto_server, LocalStack and real AWS need no code here.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SNSClient } from '@aws-sdk/client-sns';
import { tracer } from './observability.js';
import { dynamoCostPlugin } from './request-cost.js';

let ddb: DynamoDBClient | undefined;
let doc: DynamoDBDocumentClient | undefined;
let sqs: SQSClient | undefined;
let sns: SNSClient | undefined;

// Each client is traced (a no-op outside Lambda): X-Ray records the operation and resource names, never bodies.
// Short SDK timeouts: a Lambda behind API Gateway has 29 s in all, and the SDK's own retries (3, jittered) suffice.
const requestHandler = { requestTimeout: 3000, connectionTimeout: 1000 };

export function dynamo(): DynamoDBClient {
  if (!ddb) {
    ddb = tracer.captureAWSv3Client(new DynamoDBClient({ requestHandler }));
    // Per-request DynamoDB cost, for the routes that publish it (lib/request-cost.ts); inert outside a measurement.
    ddb.middlewareStack.use(dynamoCostPlugin);
  }
  return ddb;
}
export function documentClient(): DynamoDBDocumentClient {
  doc ??= DynamoDBDocumentClient.from(dynamo(), { marshallOptions: { removeUndefinedValues: true } });
  return doc;
}
export function sqsClient(): SQSClient {
  sqs ??= tracer.captureAWSv3Client(
    new SQSClient({ requestHandler: { requestTimeout: 25_000, connectionTimeout: 1000 } }),
  );
  return sqs;
}
export function snsClient(): SNSClient {
  sns ??= tracer.captureAWSv3Client(new SNSClient({ requestHandler }));
  return sns;
}

/** For tests and the local fleet after the emulator restarts: drop cached clients. */
export function resetClients(): void {
  ddb = undefined;
  doc = undefined;
  sqs = undefined;
  sns = undefined;
}
