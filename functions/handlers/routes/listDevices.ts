/** A page of devices (GSI `devices`), each with health, circuit view and error badges from one BatchGet. */
import { BadPageTokenError, batchGetDeviceItems, listDeviceMetas } from '../../adapters/devices-repo.js';
import { markerSk } from '../../adapters/markers-repo.js';
import type { StoredDeviceState } from '../../domain/report-merge.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { deviceSummary } from '../../services/device-views.js';

export default defineRoute('listDevices', async (req) => {
  let page: Awaited<ReturnType<typeof listDeviceMetas>>;
  try {
    page = await listDeviceMetas(req.query.limit, req.query.nextToken);
  } catch (err) {
    if (err instanceof BadPageTokenError)
      throw httpError('validation_failed', err.message, {
        issues: [{ in: 'query', path: 'nextToken', code: 'invalid', message: err.message }],
      });
    throw err;
  }
  const items = await batchGetDeviceItems(
    page.metas.map((m) => m.deviceId),
    ['STATE', 'CIRCUIT', markerSk()],
  );
  const devices = page.metas.map((meta) => {
    const mine = items.get(meta.deviceId) ?? new Map();
    return deviceSummary(
      meta,
      mine.get('STATE') as StoredDeviceState | undefined,
      mine.get('CIRCUIT'),
      mine.get(markerSk()),
      req.now,
    );
  });
  // Devices whose items could not be read are served without them (or left out: unreadable META) and named.
  const unreadable = [...page.unreadable, ...items.unreadable];
  return {
    statusCode: 200,
    body: {
      devices,
      ...(page.nextToken ? { nextToken: page.nextToken } : {}),
      ...(unreadable.length ? { unreadable } : {}),
    },
  };
});
