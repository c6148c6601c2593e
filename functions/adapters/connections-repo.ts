/**
 * Push-channel connections in FLEET_TABLE (docs/architecture.md "Push channel"): two small items per open socket,
 *   `DEVICE#<id>` / `CONNECTION`      → { connectionId, connectedAt, expiresAt }   (who to notify: one GetItem)
 *   `CONNECTION#<connectionId>` / `DEVICE` → { deviceId, expiresAt }              ($disconnect knows only the id)
 * Both expire with DynamoDB TTL a little after API Gateway's 2-hour connection limit, so a connection whose
 * `$disconnect` never ran (a Lambda error, a region event) cannot outlive its socket by much; readers also ignore
 * an item past its expiry, since TTL deletion may lag.
 *
 * A device holds one connection: a new one replaces the old in the device item (the old socket, if still open,
 * just stops receiving notifications). Removal is conditional on the connection id, so a late `$disconnect` or a
 * 410 for an old socket never removes its successor.
 */
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../lib/aws.js';
import { config } from '../lib/config.js';
import { writeIf } from './common/conditions.js';
import { devicePk } from './common/keys.js';

/** API Gateway closes a WebSocket connection after 2 hours; items outlive that by a margin, then expire. */
export const CONNECTION_TTL_SECONDS = 2 * 3600 + 600;
const DEVICE_SK = 'CONNECTION';
const connectionPk = (connectionId: string) => `CONNECTION#${connectionId}`;

export interface DeviceConnection {
  connectionId: string;
  connectedAt: string;
  expiresAt: number;
}

export async function storeConnection(deviceId: string, connectionId: string, now: number): Promise<void> {
  const expiresAt = Math.floor(now / 1000) + CONNECTION_TTL_SECONDS;
  const connectedAt = new Date(now).toISOString();
  // Reverse item first: should the second write fail, nothing points at a connection $disconnect cannot resolve.
  await documentClient().send(
    new PutCommand({
      TableName: config.fleetTable,
      Item: { pk: connectionPk(connectionId), sk: 'DEVICE', deviceId, expiresAt },
    }),
  );
  await documentClient().send(
    new PutCommand({
      TableName: config.fleetTable,
      Item: { pk: devicePk(deviceId), sk: DEVICE_SK, connectionId, connectedAt, expiresAt },
    }),
  );
}

/** The device's open connection, if any (an item past its expiry counts as none). */
export async function getDeviceConnection(deviceId: string, now: number): Promise<DeviceConnection | undefined> {
  const res = await documentClient().send(
    new GetCommand({ TableName: config.fleetTable, Key: { pk: devicePk(deviceId), sk: DEVICE_SK } }),
  );
  const item = res.Item;
  if (!item || typeof item.connectionId !== 'string' || !(Number(item.expiresAt) > now / 1000)) return undefined;
  return { connectionId: item.connectionId, connectedAt: String(item.connectedAt), expiresAt: Number(item.expiresAt) };
}

/** Which device a connection belongs to (for `$disconnect`, whose event carries only the connection id). */
export async function deviceOfConnection(connectionId: string): Promise<string | undefined> {
  const res = await documentClient().send(
    new GetCommand({ TableName: config.fleetTable, Key: { pk: connectionPk(connectionId), sk: 'DEVICE' } }),
  );
  return typeof res.Item?.deviceId === 'string' ? res.Item.deviceId : undefined;
}

/** Forget the device's connection only if it is still this one; true when it was. */
export function removeDeviceConnection(deviceId: string, connectionId: string): Promise<boolean> {
  return writeIf(
    new DeleteCommand({
      TableName: config.fleetTable,
      Key: { pk: devicePk(deviceId), sk: DEVICE_SK },
      ConditionExpression: 'connectionId = :c',
      ExpressionAttributeValues: { ':c': connectionId },
    }),
  );
}

export async function removeConnectionOwner(connectionId: string): Promise<void> {
  await documentClient().send(
    new DeleteCommand({ TableName: config.fleetTable, Key: { pk: connectionPk(connectionId), sk: 'DEVICE' } }),
  );
}
