import { getTarget } from '../../adapters/devices-repo.js';
import { etagOf, ifNoneMatchHits } from '../../domain/target-version.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';

/** The device's target state with its version as ETag; If-None-Match on the current ETag → 304, no body. */
export default defineRoute('getTargetState', async (req) => {
  const doc = await getTarget(req.params.deviceId);
  if (!doc) throw httpError('not_found', 'No target state has been set for this device');
  const headers = { etag: etagOf(doc.version), 'cache-control': 'no-cache' };
  if (ifNoneMatchHits(req.header('if-none-match'), doc.version)) return { statusCode: 304, headers };
  return { statusCode: 200, headers, body: { version: doc.version, updatedAt: doc.updatedAt, target: doc.target } };
});
