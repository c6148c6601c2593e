/** An operator rotates a device's token: the new one is in this answer only; the old one lasts `overlapSeconds`. */
import { DEFAULT_TOKEN_OVERLAP_SECONDS } from '../../contract/credentials.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { rotateDeviceToken } from '../../services/device-lifecycle.js';
import { recordOperatorAction } from '../../services/audit.js';
import { actor } from '../../http/principal.js';

export default defineRoute('rotateDeviceToken', async (req) => {
  const { deviceId } = req.params;
  const overlapSeconds = req.body.overlapSeconds ?? DEFAULT_TOKEN_OVERLAP_SECONDS;
  const rotated = await rotateDeviceToken({ deviceId, overlapSeconds, keep: 'current', now: req.now });
  if (!rotated) throw httpError('not_found', `No device ${deviceId}`);
  await recordOperatorAction(
    { action: 'device.token.rotate', target: { kind: 'device', id: deviceId }, deviceId, params: { overlapSeconds } },
    actor(req),
  );
  return { statusCode: 200, headers: { 'cache-control': 'no-store' }, body: rotated };
});
