/**
 * Reset every circuit that is not closed (services/circuit-breaker.ts resetAllCircuits), an audit event per
 * device; `dryRun` lists them. Without `confirm: true` a real reset is refused (400) and nothing is written.
 * Runs within a time budget below API Gateway's 29 s; `more: true` says to call again (the CLI does).
 */
import { httpError } from '../../http/errors.js';
import { actor } from '../../http/principal.js';
import { defineRoute } from '../../http/types.js';
import { resetAllCircuits } from '../../services/circuit-breaker.js';

const BUDGET_MS = 20_000;

export default defineRoute('resetAllCircuits', async (req) => {
  const { dryRun, confirm } = req.body;
  if (!dryRun && confirm !== true)
    throw httpError(
      'validation_failed',
      'Resetting every open circuit needs confirm: true (or dryRun: true to list them first)',
      { issues: [{ in: 'body', path: 'confirm', code: 'confirmation_required', message: 'must be true' }] },
    );
  const outcome = await resetAllCircuits({ dryRun, deadline: Date.now() + BUDGET_MS }, actor(req));
  return { statusCode: 200, body: { ...outcome, correlationId: req.correlationId } };
});
