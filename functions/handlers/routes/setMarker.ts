/** Silence a device (no service) or one service until the marker expires. */
import { getDeviceMeta } from '../../adapters/devices-repo.js';
import { putMarker } from '../../adapters/markers-repo.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { operatorName } from '../support/principal.js';

export default defineRoute('setMarker', async (req) => {
  const { deviceId } = req.params;
  if (!(await getDeviceMeta(deviceId))) throw httpError('not_found', `No device ${deviceId}`);
  const { service, kind, reason, durationSeconds } = req.body;
  const marker = await putMarker({ deviceId, kind, durationSeconds, createdBy: operatorName(req.principal), now: req.now, ...(service ? { service } : {}), ...(reason ? { reason } : {}) });
  return { statusCode: 201, body: marker };
});
