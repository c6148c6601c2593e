/** Create a device. Its token is in this response and nowhere else: only a salted hash is stored. */
import { createDevice, DeviceExistsError, type DeviceMeta } from '../../adapters/devices-repo.js';
import { issueDeviceToken } from '../../lib/token.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { recordOperatorAction } from '../../services/audit.js';
import { actor } from '../../http/principal.js';

export default defineRoute('registerDevice', async (req) => {
  const { deviceId, name, labels } = req.body;
  const { token, tokenSalt, tokenHash } = issueDeviceToken(deviceId);
  const createdAt = new Date(req.now).toISOString();
  const meta: DeviceMeta = { deviceId, tokenSalt, tokenHash, createdAt };
  if (name) meta.name = name;
  if (labels) meta.labels = labels;
  try {
    await createDevice(meta);
  } catch (err) {
    if (err instanceof DeviceExistsError)
      throw httpError('already_exists', `Device ${deviceId} already exists`, { deviceId });
    throw err;
  }
  await recordOperatorAction(
    { action: 'device.register', target: { kind: 'device', id: deviceId }, deviceId, params: { name, labels } },
    actor(req),
  );
  return { statusCode: 201, headers: { 'cache-control': 'no-store' }, body: { deviceId, token, createdAt } };
});
