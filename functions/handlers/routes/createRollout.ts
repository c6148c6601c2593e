/** Start a rollout; a selection that matches nothing, an unknown device or a too-long plan is a 400 that writes nothing. */
import { httpError } from '../../http/errors.js';
import { operatorName } from '../../http/principal.js';
import { defineRoute } from '../../http/types.js';
import { startRollout } from '../../services/rollout-operations.js';

export default defineRoute('createRollout', async (req) => {
  const outcome = await startRollout(req.body, {
    operator: operatorName(req.principal),
    correlationId: req.correlationId,
    now: req.now,
  });
  if (outcome.kind === 'invalid')
    throw httpError('validation_failed', outcome.message, {
      issues: outcome.issues.map((i) => ({ in: 'body', ...i })),
    });
  return { statusCode: 201, body: outcome.rollout };
});
