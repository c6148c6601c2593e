/** Rollouts, newest first, one page. */
import { defineRoute } from '../../http/types.js';
import { listRolloutAnswers } from '../../services/rollout-operations.js';

export default defineRoute('listRollouts', async (req) => ({
  statusCode: 200,
  body: await listRolloutAnswers(req.query.limit, req.query.nextToken),
}));
