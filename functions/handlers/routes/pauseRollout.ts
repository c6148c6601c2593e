/** Pause an active rollout (409 otherwise; nothing is written then). */
import { httpError } from '../../http/errors.js';
import { actor } from '../../http/principal.js';
import { defineRoute } from '../../http/types.js';
import { recordOperatorAction } from '../../services/audit.js';
import { actAsOperator } from '../../services/rollout-operations.js';

export default defineRoute('pauseRollout', async (req) => {
  const { rolloutId } = req.params;
  const who = actor(req);
  const outcome = await actAsOperator(rolloutId, 'pause', who);
  if (outcome.kind === 'not-found') throw httpError('not_found', `No rollout ${rolloutId}`);
  if (outcome.kind === 'conflict')
    throw httpError('invalid_transition', outcome.reason, { status: outcome.status, action: 'pause' });
  await recordOperatorAction(
    { action: 'rollout.pause', target: { kind: 'rollout', id: rolloutId }, params: { status: outcome.rollout.status } },
    who,
  );
  return { statusCode: 200, body: outcome.rollout };
});
