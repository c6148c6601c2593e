/**
 * One per API test file: its own tables/queues on the emulator, an operator token in a real Secrets Manager
 * secret (OPERATOR_AUTH=bearer), the real device-api / operator-api handlers, and helpers to call them and
 * to snapshot every table (for "nothing was written" assertions).
 */
import { randomBytes } from 'node:crypto';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createTestInfra, type TestInfra } from './infra.js';
import { invoke, type ApiAnswer, type ApiCall } from './apigw.js';

export interface ApiFixture {
  infra: TestInfra;
  operatorToken: string;
  /** Call operator-api with the operator token (unless `token` is given). */
  operator<T = any>(call: ApiCall): Promise<ApiAnswer<T>>;
  /** Call device-api (pass `token`). */
  device<T = any>(call: ApiCall): Promise<ApiAnswer<T>>;
  /** Register a device through the API; returns its token. */
  register(deviceId: string): Promise<string>;
  /** Every item of every table (sorted), plus the jobs queue depth: equal snapshots = nothing written. */
  snapshot(): Promise<string>;
  doc: DynamoDBDocumentClient;
  close(): Promise<void>;
}

export async function createApiFixture(extraEnv: Record<string, string> = {}): Promise<ApiFixture> {
  const secretName = `fleetmedic-test-operator-${randomBytes(4).toString('hex')}`;
  const infra = await createTestInfra({
    OPERATOR_AUTH: 'bearer',
    OPERATOR_TOKEN_SECRET_ID: secretName,
    POWERTOOLS_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'CRITICAL',
    POWERTOOLS_METRICS_DISABLED: 'true',
    ...extraEnv,
  });
  const operatorToken = `op-${randomBytes(24).toString('base64url')}`;
  const sm = new SecretsManagerClient({});
  await sm.send(new CreateSecretCommand({ Name: secretName, SecretString: operatorToken }));
  sm.destroy();

  // Imported only now: the handlers read their environment (log level, metrics) at import.
  const { handler: operatorApi } = await import('../../functions/handlers/operator-api.js');
  const { handler: deviceApi } = await import('../../functions/handlers/device-api.js');
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  const sqs = new SQSClient({});

  const operator = <T>(call: ApiCall) => invoke<T>(operatorApi as never, { token: operatorToken, ...call });
  const device = <T>(call: ApiCall) => invoke<T>(deviceApi as never, call);

  async function scanAll(table: string) {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const res = await doc.send(new ScanCommand({ TableName: table, ExclusiveStartKey: start, ConsistentRead: true }));
      items.push(...((res.Items ?? []) as Record<string, unknown>[]));
      start = res.LastEvaluatedKey;
    } while (start);
    return items.map((i) => JSON.stringify(i, Object.keys(i).sort())).sort();
  }

  return {
    infra,
    operatorToken,
    operator,
    device,
    doc,
    async register(deviceId) {
      const res = await operator<{ token: string }>({ method: 'POST', path: '/v1/devices', body: { deviceId } });
      if (res.status !== 201) throw new Error(`register ${deviceId}: ${res.status} ${res.raw}`);
      return res.body.token;
    },
    async snapshot() {
      const tables = ['FLEET_TABLE', 'JOBS_TABLE', 'EVENTS_TABLE', 'ALERTS_TABLE', 'ROLLOUTS_TABLE'].map(
        (k) => infra.env[k]!,
      );
      const out: Record<string, unknown> = {};
      for (const t of tables) out[t] = await scanAll(t);
      const q = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: infra.env.JOBS_QUEUE_URL,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      out.queue = q.Attributes;
      return JSON.stringify(out);
    },
    async close() {
      doc.destroy();
      sqs.destroy();
      await infra.close();
    },
  };
}
