/** Abort an active or paused rollout (409 once it finished; nothing is written then). */
import { httpError } from '../../http/errors.js';
import { actor } from '../../http/principal.js';
import { defineRoute } from '../../http/types.js';
import { recordOperatorAction } from '../../services/audit.js';
import { actAsOperator } from '../../services/rollout-operations.js';

export default defineRoute('abortRollout', async (req) => {
  const { rolloutId } = req.params;
  const who = actor(req);
  const outcome = await actAsOperator(rolloutId, 'abort', who, req.body.reason);
  if (outcome.kind === 'not-found') throw httpError('not_found', `No rollout ${rolloutId}`);
  if (outcome.kind === 'conflict')
    throw httpError('invalid_transition', outcome.reason, { status: outcome.status, action: 'abort' });
  await recordOperatorAction(
    {
      action: 'rollout.abort',
      target: { kind: 'rollout', id: rolloutId },
      params: { status: outcome.rollout.status, reason: req.body.reason },
    },
    who,
  );
  return { statusCode: 200, body: outcome.rollout };
});
