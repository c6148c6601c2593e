/**
 * Errors → responses. An HttpError becomes `{error, message, details}` with its status; an item stored in a
 * shape that cannot be read (UnreadableItemError) a 500 `unreadable_item` naming it, so the caller learns what is
 * wrong and that retrying will not help; anything else is logged in full and answered with a bare 500
 * `internal_error` (no stack, no AWS error text leaks out).
 * It sets the response without returning it, so the Powertools onError hooks that run after it
 * (metrics flush, logger cleanup) still run.
 */
import type { ErrorBody } from '../contract/common.js';
import { logger } from '../lib/observability.js';
import { UnreadableItemError } from '../adapters/common/item-reader.js';
import { HttpError } from './errors.js';
import type { ApiMiddleware } from './middleware.js';

export function jsonResponse(statusCode: number, body: unknown, headers: Record<string, string> = {}) {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

export function errorHandler(): ApiMiddleware {
  return {
    name: 'error-handler',
    onError: (request) => {
      const err =
        request.error instanceof UnreadableItemError
          ? new HttpError('unreadable_item', request.error.message, request.error.unreadable)
          : request.error;
      if (err instanceof HttpError) {
        const body: ErrorBody = { error: err.code, message: err.message };
        if (err.details !== undefined) body.details = err.details;
        // circuit_open is the breaker doing its job, not a fault of ours.
        if (err.statusCode >= 500 && err.code !== 'circuit_open')
          logger.error('request failed', { error: err.code, message: err.message });
        else logger.info('request rejected', { status: err.statusCode, error: err.code });
        request.response = jsonResponse(err.statusCode, body, err.headers);
        return;
      }
      logger.error('unhandled error', err as Error);
      const correlationId = request.context.api?.correlationId;
      request.response = jsonResponse(500, {
        error: 'internal_error',
        message: 'Internal error. Quote the correlation id when reporting it.',
        ...(correlationId ? { details: { correlationId } } : {}),
      } satisfies ErrorBody);
    },
  };
}
