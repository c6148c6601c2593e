import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { deviceTarget } from '../../services/device-target.js';

/**
 * The device's target state with its ETag; If-None-Match on the current ETag → 304, no body. A target naming
 * registry credentials comes with them resolved (functions/services/device-target.ts) and is never stored by
 * caches on the way (no-store).
 */
export default defineRoute('getTargetState', async (req) => {
  const answer = await deviceTarget(req.params.deviceId, req.header('if-none-match'));
  if (answer.kind === 'none') throw httpError('not_found', 'No target state has been set for this device');
  if (answer.kind === 'unchanged')
    return { statusCode: 304, headers: { etag: answer.etag, 'cache-control': 'no-cache' } };
  return {
    statusCode: 200,
    headers: { etag: answer.etag, 'cache-control': answer.carriesCredentials ? 'no-store' : 'no-cache' },
    body: answer.doc,
  };
});
