/**
 * The push channel's connection bookkeeping (docs/architecture.md "Push channel"): `$connect` of an authenticated
 * device stores its connection; `$disconnect` forgets it and, when the agent said goodbye (close code 1000: it is
 * stopping, not reconnecting) on its current connection, marks the clean disconnect for liveness.
 */
import {
  deviceOfConnection,
  removeConnectionOwner,
  removeDeviceConnection,
  storeConnection,
} from '../adapters/connections-repo.js';
import { markCleanDisconnect } from '../adapters/liveness-repo.js';
import { CLOSE_CODES } from '../contract/push.js';

export async function openConnection(deviceId: string, connectionId: string, now: number): Promise<void> {
  await storeConnection(deviceId, connectionId, now);
}

export interface ClosedConnection {
  deviceId?: string;
  /** It was the device's current connection (a replaced one is not). */
  wasCurrent: boolean;
  /** The clean goodbye was recorded for liveness. */
  markedGone: boolean;
}

export async function closeConnection(
  connectionId: string,
  closeCode: number | undefined,
  now: number,
): Promise<ClosedConnection> {
  const deviceId = await deviceOfConnection(connectionId);
  if (!deviceId) return { wasCurrent: false, markedGone: false };
  const wasCurrent = await removeDeviceConnection(deviceId, connectionId);
  await removeConnectionOwner(connectionId);
  const markedGone =
    wasCurrent && closeCode === CLOSE_CODES.stopping ? await markCleanDisconnect(deviceId, now) : false;
  return { deviceId, wasCurrent, markedGone };
}
