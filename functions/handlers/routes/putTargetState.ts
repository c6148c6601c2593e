/** Replace a device's target state. Same content keeps the same version (ETag), so agents do not churn. */
import { getDeviceMeta, getTarget, putTarget } from '../../adapters/devices-repo.js';
import { targetVersion, etagOf } from '../../domain/target-version.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';

export default defineRoute('putTargetState', async (req) => {
  const { deviceId } = req.params;
  if (!(await getDeviceMeta(deviceId))) throw httpError('not_found', `No device ${deviceId}`);
  const version = targetVersion(req.body);
  const current = await getTarget(deviceId);
  if (current?.version === version) return { statusCode: 200, headers: { etag: etagOf(version) }, body: current };
  const doc = { version, updatedAt: new Date(req.now).toISOString(), target: req.body };
  await putTarget(deviceId, doc);
  return { statusCode: 200, headers: { etag: etagOf(version) }, body: doc };
});
