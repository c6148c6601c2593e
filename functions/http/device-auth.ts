/**
 * Device authentication: `Authorization: Bearer <deviceId>.<secret>`; the device's META item holds a salted hash,
 * compared in constant time. Unknown device, malformed or wrong token → 401 (indistinguishable on purpose).
 * A valid token used on another device's path → 403.
 */
import { DeviceId } from '../contract/common.js';
import { getDeviceMeta } from '../adapters/devices-repo.js';
import { logger } from '../lib/observability.js';
import { parseDeviceToken, verifySecret } from '../lib/token.js';
import { safeParse } from '../lib/validation.js';
import { httpError } from './errors.js';
import { bearerToken, CHALLENGE } from './bearer.js';
import type { ApiEvent, Principal } from './types.js';

export async function authenticateDevice(event: ApiEvent, pathDeviceId: string | undefined): Promise<Principal> {
  const parsed = parseDeviceToken(bearerToken(event));
  const invalid = () => httpError('unauthorized', 'Invalid device token', undefined, CHALLENGE);
  if (!parsed || !safeParse(DeviceId, parsed.deviceId).success) throw invalid();
  const meta = await getDeviceMeta(parsed.deviceId);
  if (!meta || !verifySecret(parsed.secret, meta.tokenSalt, meta.tokenHash)) throw invalid();
  if (pathDeviceId !== undefined && pathDeviceId !== parsed.deviceId) {
    logger.warn('device touched another device', { tokenDevice: parsed.deviceId, pathDevice: pathDeviceId.slice(0, 64) });
    throw httpError('forbidden', 'A device may only access its own resources');
  }
  return { kind: 'device', deviceId: parsed.deviceId };
}
