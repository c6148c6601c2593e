import { listPendingForDevice, toJob } from '../../adapters/jobs-repo.js';
import { defineRoute } from '../../http/types.js';

/** Jobs dispatched to the calling device and not terminal yet, oldest first. */
export default defineRoute('getPendingJobs', async (req) => {
  const jobs = await listPendingForDevice(req.params.deviceId);
  return { statusCode: 200, body: { jobs: jobs.map(toJob) } };
});
