/**
 * One round trip per heartbeat: report in; ack, pending jobs, target if changed, next interval out
 * (services/device-sync.ts). What the sync cost is published with it (adapters/sync-cost.ts).
 */
import { publishSyncCost } from '../../adapters/sync-cost.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { measureDynamoCost } from '../../lib/request-cost.js';
import { syncDevice } from '../../services/device-sync.js';

export default defineRoute('syncDevice', async (req) => {
  const { deviceId } = req.params;
  const { report } = req.body;
  if (report.deviceId !== deviceId)
    throw httpError('forbidden', 'The report names another device than the path', {
      path: deviceId,
      body: report.deviceId,
    });
  const { result: r, cost } = await measureDynamoCost(() => syncDevice(deviceId, req.body, req));
  if (r.kind === 'retired') throw httpError('unauthorized', 'Invalid device token');
  if (r.kind !== 'ok')
    throw httpError('stale_sequence', 'Concurrent reports kept superseding this one; send the next sequence', {
      seq: report.seq,
    });
  publishSyncCost({
    dynamo: cost,
    requestBytes: req.event.body ? Buffer.byteLength(req.event.body, req.event.isBase64Encoded ? 'base64' : 'utf8') : 0,
    responseBytes: Buffer.byteLength(JSON.stringify(r.body)),
  });
  return { statusCode: 200, body: r.body };
});
