import { defineRoute } from '../../http/types.js';
import { recoveryRatePolicy, recoveryStats } from '../../services/recovery-stats.js';

/** Recovery success rates from the hourly counters (a handful of Queries, no scan): fleet-wide or one device. */
export default defineRoute('getRecoveryStats', async (req) => {
  const { deviceId, sinceSeconds } = req.query;
  const windows = await recoveryStats({
    now: req.now,
    ...(deviceId ? { deviceId } : {}),
    ...(sinceSeconds ? { sinceSeconds } : {}),
  });
  return {
    statusCode: 200,
    body: { ...(deviceId ? { deviceId } : {}), windows, alert: recoveryRatePolicy() },
  };
});
