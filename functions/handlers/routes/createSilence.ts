/** Create a silence (matchers on device, service, alert name; always ends). */
import { matcherProblem } from '../../domain/alerting/silences.js';
import { httpError } from '../../http/errors.js';
import { operatorName } from '../../http/principal.js';
import { defineRoute } from '../../http/types.js';
import { createSilence } from '../../services/silences.js';

export default defineRoute('createSilence', async (req) => {
  const { matchers, durationSeconds, startsAt, comment } = req.body;
  const problem = matcherProblem(matchers);
  if (problem) throw httpError('validation_failed', `matchers: ${problem}`, { field: 'matchers' });
  const outcome = await createSilence(
    { matchers, durationSeconds, comment, ...(startsAt ? { startsAt: Date.parse(startsAt) } : {}) },
    { operator: operatorName(req.principal), correlationId: req.correlationId, now: req.now },
  );
  if (outcome.kind === 'too-many')
    throw httpError('bad_request', `${outcome.count} silences are active or pending: end some first`);
  return { statusCode: 201, body: outcome.silence };
});
