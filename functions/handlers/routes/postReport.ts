/**
 * A device's heartbeat + state (the protocol before POST /sync; agents in the field keep using it). Stored by
 * services/report-intake.ts: the stored sequence again → 200 `duplicate`; an older one → 409
 * stale_sequence (details.lastSeq); no state write unless the state changed; every report is a sign of life.
 * The ack's `lastSeq` is the last STORED sequence (an unchanged heartbeat is acknowledged but not stored).
 */
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { storeReport } from '../../services/report-intake.js';

export default defineRoute('postReport', async (req) => {
  const { deviceId } = req.params;
  const report = req.body;
  if (report.deviceId !== deviceId)
    throw httpError('forbidden', 'The report names another device than the path', {
      path: deviceId,
      body: report.deviceId,
    });
  const { outcome } = await storeReport(deviceId, report, req);
  if (outcome.status === 'stale')
    throw httpError('stale_sequence', `Sequence ${report.seq} is older than the stored ${outcome.lastSeq}`, {
      seq: report.seq,
      lastSeq: outcome.lastSeq,
    });
  if (outcome.status === 'retired') throw httpError('unauthorized', 'Invalid device token');
  if (outcome.status === 'superseded')
    throw httpError('stale_sequence', 'Concurrent reports kept superseding this one; send the next sequence', {
      seq: report.seq,
    });
  return {
    statusCode: 200,
    body: {
      status: outcome.status,
      seq: report.seq,
      lastSeq: outcome.lastSeq,
      serverTime: new Date(req.now).toISOString(),
    },
  };
});
