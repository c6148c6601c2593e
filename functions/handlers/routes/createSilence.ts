/** Create a silence (matchers on device, service, alert name; always ends). */
import { matcherProblem } from '../../domain/alerting/silences.js';
import { httpError } from '../../http/errors.js';
import { actor, operatorName } from '../../http/principal.js';
import { defineRoute } from '../../http/types.js';
import { createSilence } from '../../services/silences.js';
import { recordOperatorAction } from '../../services/audit.js';

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
  const s = outcome.silence;
  await recordOperatorAction(
    {
      action: 'silence.create',
      target: { kind: 'silence', id: s.silenceId },
      params: {
        matchers: s.matchers.map((m) => `${m.name}${m.op}"${m.value}"`).join(','),
        startsAt: s.startsAt,
        endsAt: s.endsAt,
        comment: s.comment,
      },
    },
    actor(req),
  );
  return { statusCode: 201, body: s };
});
