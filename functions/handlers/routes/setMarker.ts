/** Silence a device (no service) or one service until the marker expires. */
import { getDeviceMeta, setOfflineSilenced } from '../../adapters/devices-repo.js';
import { putMarker } from '../../adapters/markers-repo.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { actor, operatorName } from '../../http/principal.js';
import { recordOperatorAction } from '../../services/audit.js';

export default defineRoute('setMarker', async (req) => {
  const { deviceId } = req.params;
  if (!(await getDeviceMeta(deviceId))) throw httpError('not_found', `No device ${deviceId}`);
  const { service, kind, reason, durationSeconds } = req.body;
  const marker = await putMarker({
    deviceId,
    kind,
    durationSeconds,
    createdBy: operatorName(req.principal),
    now: req.now,
    ...(service ? { service } : {}),
    ...(reason ? { reason } : {}),
  });
  // A device-wide marker on a device already offline: it stops counting in devices_offline now (a no-op write
  // condition for a device that is online). When the marker ends, the evaluator counts it again.
  if (!service) await setOfflineSilenced(deviceId, true);
  await recordOperatorAction(
    {
      action: 'marker.set',
      target: { kind: 'marker', id: service ? `${deviceId}/${service}` : deviceId },
      deviceId,
      params: { kind, durationSeconds, service, reason },
    },
    actor(req),
  );
  return { statusCode: 201, body: marker };
});
