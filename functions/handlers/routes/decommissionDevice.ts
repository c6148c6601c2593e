/** Decommission a device (functions/services/device-lifecycle.ts). Idempotent: repeating it finishes a partial one. */
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { decommissionDevice } from '../../services/device-lifecycle.js';
import { operatorName } from '../../http/principal.js';

export default defineRoute('decommissionDevice', async (req) => {
  const { deviceId } = req.params;
  const done = await decommissionDevice(deviceId, {
    by: operatorName(req.principal),
    now: req.now,
    correlationId: req.correlationId,
  });
  if (!done) throw httpError('not_found', `No device ${deviceId}`);
  return { statusCode: 200, body: done };
});
