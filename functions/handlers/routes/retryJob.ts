/** Re-dispatch a stuck job now, as a new attempt (services/job-operations.ts). Finished → 409, nothing written. */
import { actor } from '../../http/principal.js';
import { defineRoute } from '../../http/types.js';
import { jobOperationAnswer } from './job-operation-answer.js';
import { retryJobNow } from '../../services/job-operations.js';

export default defineRoute('retryJob', async (req) =>
  jobOperationAnswer(req.params.jobId, await retryJobNow(req.params.jobId, actor(req))),
);
