/** Remove a marker (`?service=` for a service marker, none for the device-wide one). */
import { deleteMarker } from '../../adapters/markers-repo.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { recordOperatorAction } from '../../services/audit.js';
import { actor } from '../../http/principal.js';

export default defineRoute('deleteMarker', async (req) => {
  const { deviceId } = req.params;
  const service = req.query.service;
  if (!(await deleteMarker(deviceId, service)))
    throw httpError(
      'not_found',
      service ? `No marker for ${deviceId}/${service}` : `No device-wide marker for ${deviceId}`,
    );
  await recordOperatorAction(
    {
      action: 'marker.delete',
      target: { kind: 'marker', id: service ? `${deviceId}/${service}` : deviceId },
      deviceId,
      params: service ? { service } : {},
    },
    actor(req),
  );
  return { statusCode: 204 };
});
