import { readPendingForDevice, toJob } from '../../adapters/jobs-repo.js';
import { defineRoute } from '../../http/types.js';

/** Jobs dispatched to the calling device and not terminal yet, oldest first; unreadable ones named, not fatal. */
export default defineRoute('getPendingJobs', async (req) => {
  const { jobs, unreadable } = await readPendingForDevice(req.params.deviceId);
  return { statusCode: 200, body: { jobs: jobs.map(toJob), ...(unreadable.length ? { unreadable } : {}) } };
});
