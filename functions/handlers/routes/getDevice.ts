/**
 * Device detail: services, error badges, circuit, active markers, recent events and the error history (the
 * device's `service.error` events, from its own events partition). An item of the device that
 * cannot be read is left out and named in `unreadable`; without a readable META there is no device to show.
 */
import { getDeviceItems } from '../../adapters/devices-repo.js';
import { UnreadableItemError } from '../../adapters/common/item-reader.js';
import { recentEvents } from '../../adapters/events.js';
import { SERVICE_ERROR_EVENT } from '../../domain/error-history.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { deviceDetail } from '../../services/device-views.js';

export default defineRoute('getDevice', async (req) => {
  const { deviceId } = req.params;
  const [items, events, errorEvents] = await Promise.all([
    getDeviceItems(deviceId),
    recentEvents({ deviceId, limit: 20, now: req.now }),
    recentEvents({ deviceId, type: SERVICE_ERROR_EVENT, limit: 100, now: req.now }),
  ]);
  const meta = items.unreadable.find((u) => u.item === 'META');
  if (meta) throw new UnreadableItemError(meta);
  if (!items.meta) throw httpError('not_found', `No device ${deviceId}`);
  const detail = deviceDetail(items.meta, items.state, items.others, events, req.now, items.target, errorEvents);
  return { statusCode: 200, body: items.unreadable.length ? { ...detail, unreadable: items.unreadable } : detail };
});
