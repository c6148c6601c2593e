/** One rollout's progress per stage and how close its abort criteria are. */
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { getRolloutAnswer } from '../../services/rollout-operations.js';

export default defineRoute('getRollout', async (req) => {
  const rollout = await getRolloutAnswer(req.params.rolloutId);
  if (!rollout) throw httpError('not_found', `No rollout ${req.params.rolloutId}`);
  return { statusCode: 200, body: rollout };
});
