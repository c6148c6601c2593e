/**
 * Start a rollout of a target or a job; a selection that matches nothing, an unknown device, a job that cannot be
 * rolled out or a too-long plan is a 400 that writes nothing.
 */
import { httpError } from '../../http/errors.js';
import { actor } from '../../http/principal.js';
import { defineRoute } from '../../http/types.js';
import { recordOperatorAction } from '../../services/audit.js';
import { startRollout } from '../../services/rollout-operations.js';

export default defineRoute('createRollout', async (req) => {
  const who = actor(req);
  const outcome = await startRollout(req.body, who);
  if (outcome.kind === 'invalid')
    throw httpError('validation_failed', outcome.message, {
      issues: outcome.issues.map((i) => ({ in: 'body', ...i })),
    });
  const r = outcome.rollout;
  await recordOperatorAction(
    {
      action: 'rollout.create',
      target: { kind: 'rollout', id: r.rolloutId },
      params: {
        selector: r.selector,
        deviceCount: r.deviceCount,
        targetVersion: r.targetVersion,
        ...(r.job ? { job: r.job.type } : {}),
        canary: r.canary,
        waves: r.waves,
        abortCriteria: r.abortCriteria,
        onAbort: r.onAbort,
      },
    },
    who,
  );
  return { statusCode: 201, body: r };
});
