/** Resume a paused rollout (409 otherwise; nothing is written then). */
import { httpError } from '../../http/errors.js';
import { operatorName } from '../../http/principal.js';
import { defineRoute } from '../../http/types.js';
import { actAsOperator } from '../../services/rollout-operations.js';

export default defineRoute('resumeRollout', async (req) => {
  const { rolloutId } = req.params;
  const who = { operator: operatorName(req.principal), correlationId: req.correlationId, now: req.now };
  const outcome = await actAsOperator(rolloutId, 'resume', who);
  if (outcome.kind === 'not-found') throw httpError('not_found', `No rollout ${rolloutId}`);
  if (outcome.kind === 'conflict')
    throw httpError('invalid_transition', outcome.reason, { status: outcome.status, action: 'resume' });
  return { statusCode: 200, body: outcome.rollout };
});
