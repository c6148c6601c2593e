/** Abort an active or paused rollout (409 once it finished; nothing is written then). */
import { httpError } from '../../http/errors.js';
import { operatorName } from '../../http/principal.js';
import { defineRoute } from '../../http/types.js';
import { actAsOperator } from '../../services/rollout-operations.js';

export default defineRoute('abortRollout', async (req) => {
  const { rolloutId } = req.params;
  const who = { operator: operatorName(req.principal), correlationId: req.correlationId, now: req.now };
  const outcome = await actAsOperator(rolloutId, 'abort', who, req.body.reason);
  if (outcome.kind === 'not-found') throw httpError('not_found', `No rollout ${rolloutId}`);
  if (outcome.kind === 'conflict')
    throw httpError('invalid_transition', outcome.reason, { status: outcome.status, action: 'abort' });
  return { statusCode: 200, body: outcome.rollout };
});
