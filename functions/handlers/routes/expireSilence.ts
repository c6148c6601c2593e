/** End a silence now. */
import { httpError } from '../../http/errors.js';
import { actor, operatorName } from '../../http/principal.js';
import { defineRoute } from '../../http/types.js';
import { endSilence } from '../../services/silences.js';
import { recordOperatorAction } from '../../services/audit.js';

export default defineRoute('expireSilence', async (req) => {
  const { silenceId } = req.params;
  const ended = await endSilence(silenceId, {
    operator: operatorName(req.principal),
    correlationId: req.correlationId,
    now: req.now,
  });
  if (!ended) throw httpError('not_found', `No active or pending silence ${silenceId}`);
  await recordOperatorAction(
    { action: 'silence.expire', target: { kind: 'silence', id: silenceId }, params: { comment: ended.comment } },
    actor(req),
  );
  return { statusCode: 200, body: ended };
});
