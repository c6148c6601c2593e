/**
 * A device renews its own token. The token it called with stays valid for the default overlap (24 h), so an answer
 * lost on the way never locks it out: it retries with the token it still has.
 */
import { DEFAULT_TOKEN_OVERLAP_SECONDS } from '../../contract/credentials.js';
import { forgetDeviceCredentials } from '../../http/device-auth.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { rotateDeviceToken } from '../../services/device-lifecycle.js';

export default defineRoute('renewDeviceToken', async (req) => {
  const { deviceId } = req.params;
  const keep = req.principal.kind === 'device' && req.principal.token === 'previous' ? 'previous' : 'current';
  const rotated = await rotateDeviceToken({
    deviceId,
    overlapSeconds: DEFAULT_TOKEN_OVERLAP_SECONDS,
    keep,
    now: req.now,
  });
  // Decommissioned between authentication and now.
  if (!rotated) throw httpError('unauthorized', 'Invalid device token');
  // This container would otherwise refuse the new token until its cached entry may be refreshed.
  forgetDeviceCredentials(deviceId);
  return { statusCode: 200, headers: { 'cache-control': 'no-store' }, body: rotated };
});
