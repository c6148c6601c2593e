/**
 * Silence markers in FLEET_TABLE: `DEVICE#<id>` / `MARKER#<service>` (or `MARKER#*` for the whole device).
 * Markers always expire: `expiresAt` (epoch s) is the table's TTL attribute, and readers also ignore
 * expired markers themselves because TTL deletion can lag by hours.
 */
import { DeleteCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Marker } from '../contract/operator.js';
import { documentClient } from '../lib/aws.js';
import { config } from '../lib/config.js';
import { writeIf } from './common/conditions.js';
import { devicePk } from './common/keys.js';

export const DEVICE_WIDE = '*';
export const markerSk = (service?: string) => `MARKER#${service ?? DEVICE_WIDE}`;

interface MarkerItem {
  pk: string;
  sk: string;
  deviceId: string;
  service?: string;
  kind: Marker['kind'];
  reason?: string;
  createdAt: string;
  expiresAt: number;
  createdBy: string;
}

export function toMarker(item: Record<string, unknown>): Marker {
  const i = item as unknown as MarkerItem;
  const m: Marker = {
    deviceId: i.deviceId,
    kind: i.kind,
    createdAt: i.createdAt,
    expiresAt: new Date(Number(i.expiresAt) * 1000).toISOString(),
    createdBy: i.createdBy,
  };
  if (i.service) m.service = i.service;
  if (i.reason) m.reason = i.reason;
  return m;
}

export const isMarkerItem = (sk: string) => sk.startsWith('MARKER#');
export const markerActive = (item: Record<string, unknown>, now: number) => Number(item.expiresAt) * 1000 > now;

/** Create or replace the marker for a device (service undefined) or one service. */
export async function putMarker(input: {
  deviceId: string;
  service?: string;
  kind: Marker['kind'];
  reason?: string;
  durationSeconds: number;
  createdBy: string;
  now?: number;
}): Promise<Marker> {
  const now = input.now ?? Date.now();
  const item: MarkerItem = {
    pk: devicePk(input.deviceId),
    sk: markerSk(input.service),
    deviceId: input.deviceId,
    kind: input.kind,
    createdAt: new Date(now).toISOString(),
    expiresAt: Math.floor(now / 1000) + input.durationSeconds,
    createdBy: input.createdBy,
  };
  if (input.service) item.service = input.service;
  if (input.reason) item.reason = input.reason;
  await documentClient().send(new PutCommand({ TableName: config.fleetTable, Item: item }));
  return toMarker(item as unknown as Record<string, unknown>);
}

/** Remove a marker; false when there was none. */
export function deleteMarker(deviceId: string, service?: string): Promise<boolean> {
  return writeIf(
    new DeleteCommand({
      TableName: config.fleetTable,
      Key: { pk: devicePk(deviceId), sk: markerSk(service) },
      ConditionExpression: 'attribute_exists(sk)',
    }),
  );
}

/** Unexpired markers of a device (device-wide and per service). */
export async function activeMarkers(deviceId: string, now = Date.now()): Promise<Marker[]> {
  const res = await documentClient().send(
    new QueryCommand({
      TableName: config.fleetTable,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :m)',
      FilterExpression: 'expiresAt > :now',
      ExpressionAttributeValues: { ':pk': devicePk(deviceId), ':m': 'MARKER#', ':now': Math.floor(now / 1000) },
    }),
  );
  return (res.Items ?? []).map(toMarker);
}

/** Is this service (or the whole device, service undefined) silenced right now? */
export function isSilenced(markers: Marker[], service: string | undefined, now = Date.now()): Marker | undefined {
  return markers.find((m) => Date.parse(m.expiresAt) > now && (m.service === undefined || m.service === service));
}
