/** Decommission a device (functions/services/device-lifecycle.ts). Idempotent: repeating it finishes a partial one. */
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { decommissionDevice } from '../../services/device-lifecycle.js';
import { actor, operatorName } from '../../http/principal.js';
import { recordOperatorAction } from '../../services/audit.js';

export default defineRoute('decommissionDevice', async (req) => {
  const { deviceId } = req.params;
  const done = await decommissionDevice(deviceId, {
    by: operatorName(req.principal),
    now: req.now,
    correlationId: req.correlationId,
  });
  if (!done) throw httpError('not_found', `No device ${deviceId}`);
  await recordOperatorAction(
    { action: 'device.decommission', target: { kind: 'device', id: deviceId }, deviceId },
    actor(req),
  );
  return { statusCode: 200, body: done };
});
