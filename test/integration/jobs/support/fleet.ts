/** A registered device and API helpers for the job-queue tests (real handlers, real emulator). */
import { QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { handler as operatorApi } from '../../../../functions/handlers/operator-api.js';
import { handler as deviceApi } from '../../../../functions/handlers/device-api.js';
import { documentClient } from '../../../../functions/lib/aws.js';
import { invoke, type ApiAnswer } from '../../../support/apigw.js';

export const OPERATOR = { userArn: 'arn:aws:iam::123456789012:user/ops' };

export async function registerDevice(deviceId: string): Promise<string> {
  const res = await invoke(operatorApi as never, {
    method: 'POST',
    path: '/v1/devices',
    iam: OPERATOR,
    body: { deviceId },
  });
  if (res.status !== 201) throw new Error(`register ${deviceId}: ${res.status} ${res.raw}`);
  return res.body.token as string;
}

export function operator<T = any>(
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
  query?: Record<string, string>,
): Promise<ApiAnswer<T>> {
  return invoke<T>(operatorApi as never, {
    method,
    path,
    iam: OPERATOR,
    ...(body !== undefined ? { body } : {}),
    ...(query ? { query } : {}),
  });
}

export function device<T = any>(
  token: string,
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  body?: unknown,
): Promise<ApiAnswer<T>> {
  return invoke<T>(deviceApi as never, { method, path, token, ...(body !== undefined ? { body } : {}) });
}

export async function enqueue(deviceId: string, command: unknown): Promise<ApiAnswer> {
  return operator('POST', `/v1/devices/${deviceId}/jobs`, command);
}

export async function eventsOf(eventsTable: string, deviceId: string, type?: string): Promise<Record<string, any>[]> {
  const res = await documentClient().send(
    new QueryCommand({
      TableName: eventsTable,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `DEVICE#${deviceId}` },
    }),
  );
  return (res.Items ?? []).filter((e) => !type || e.type === type);
}

export async function countItems(table: string): Promise<number> {
  const res = await documentClient().send(new ScanCommand({ TableName: table, Select: 'COUNT' }));
  return res.Count ?? 0;
}
