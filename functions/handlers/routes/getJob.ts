import { getJob, toJob } from '../../adapters/jobs-repo.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';

/** A job with its attempt history. */
export default defineRoute('getJob', async (req) => {
  const job = await getJob(req.params.jobId);
  if (!job) throw httpError('not_found', `No job ${req.params.jobId}`);
  return { statusCode: 200, body: toJob(job) };
});
