/**
 * Device detail: services, error badges, circuit, active markers and recent events. An item of the device that
 * cannot be read is left out and named in `unreadable`; without a readable META there is no device to show.
 */
import { getDeviceItems } from '../../adapters/devices-repo.js';
import { UnreadableItemError } from '../../adapters/common/item-reader.js';
import { recentEvents } from '../../adapters/events.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { deviceDetail } from '../../services/device-views.js';

export default defineRoute('getDevice', async (req) => {
  const { deviceId } = req.params;
  const [items, events] = await Promise.all([
    getDeviceItems(deviceId),
    recentEvents({ deviceId, limit: 20, now: req.now }),
  ]);
  const meta = items.unreadable.find((u) => u.item === 'META');
  if (meta) throw new UnreadableItemError(meta);
  if (!items.meta) throw httpError('not_found', `No device ${deviceId}`);
  const detail = deviceDetail(items.meta, items.state, items.others, events, req.now, items.target);
  return { statusCode: 200, body: items.unreadable.length ? { ...detail, unreadable: items.unreadable } : detail };
});
