/** End a silence now. */
import { httpError } from '../../http/errors.js';
import { operatorName } from '../../http/principal.js';
import { defineRoute } from '../../http/types.js';
import { endSilence } from '../../services/silences.js';

export default defineRoute('expireSilence', async (req) => {
  const { silenceId } = req.params;
  const ended = await endSilence(silenceId, {
    operator: operatorName(req.principal),
    correlationId: req.correlationId,
    now: req.now,
  });
  if (!ended) throw httpError('not_found', `No active or pending silence ${silenceId}`);
  return { statusCode: 200, body: ended };
});
