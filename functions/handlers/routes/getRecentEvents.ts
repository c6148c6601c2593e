import { recentEvents } from '../../adapters/events.js';
import { defineRoute } from '../../http/types.js';

/** Recent fleet events, newest first, optionally for one device and/or one type (e.g. command.failed). */
export default defineRoute('getRecentEvents', async (req) => {
  const { deviceId, type, limit } = req.query;
  const events = await recentEvents({
    limit,
    now: req.now,
    ...(deviceId ? { deviceId } : {}),
    ...(type ? { type } : {}),
  });
  return { statusCode: 200, body: { events } };
});
