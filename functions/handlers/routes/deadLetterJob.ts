/** Move a stuck job to the jobs DLQ with the operator's reason (services/job-operations.ts). Finished → 409. */
import { actor } from '../../http/principal.js';
import { defineRoute } from '../../http/types.js';
import { jobOperationAnswer } from './job-operation-answer.js';
import { deadLetterJob } from '../../services/job-operations.js';

export default defineRoute('deadLetterJob', async (req) =>
  jobOperationAnswer(req.params.jobId, await deadLetterJob(req.params.jobId, req.body.reason, actor(req))),
);
