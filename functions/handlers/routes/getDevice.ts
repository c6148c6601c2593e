/** Device detail: services, error badges, circuit, active markers and recent events. */
import { getDeviceItems } from '../../adapters/devices-repo.js';
import { recentEvents } from '../../adapters/events.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { deviceDetail } from '../support/device-views.js';

export default defineRoute('getDevice', async (req) => {
  const { deviceId } = req.params;
  const [items, events] = await Promise.all([getDeviceItems(deviceId), recentEvents({ deviceId, limit: 20, now: req.now })]);
  if (!items.meta) throw httpError('not_found', `No device ${deviceId}`);
  return { statusCode: 200, body: deviceDetail(items.meta, items.state, items.others, events, req.now, items.target) };
});
