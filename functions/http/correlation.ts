/**
 * Correlation id: taken from `x-correlation-id` when it is well-formed, generated otherwise. It is put on
 * every log line (Powertools Logger key `correlationId`), handed to route code (→ job records, queue
 * messages, events) and echoed in the response header so a caller can quote it.
 * This middleware also creates the per-request API state on the context, so it must run first.
 */
import { CorrelationId } from '../contract/common.js';
import { newCorrelationId } from '../lib/ids.js';
import { logger } from '../lib/observability.js';
import { safeParse } from '../lib/validation.js';
import { header, type ApiMiddleware } from './middleware.js';

export const CORRELATION_HEADER = 'x-correlation-id';

export function correlation(): ApiMiddleware {
  const echo: ApiMiddleware['after'] = (request) => {
    const id = request.context.api?.correlationId;
    if (!id || !request.response) return;
    request.response.headers = { ...(request.response.headers ?? {}), [CORRELATION_HEADER]: id };
  };
  return {
    name: 'correlation',
    before: (request) => {
      const given = header(request.event, CORRELATION_HEADER);
      const correlationId = given && safeParse(CorrelationId, given).success ? given : newCorrelationId();
      request.context.api = { correlationId, principal: { kind: 'anonymous' }, params: {}, query: {}, body: undefined };
      logger.appendKeys({ correlationId });
    },
    after: echo,
    onError: echo,
  };
}
