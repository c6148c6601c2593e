/**
 * Per-route body size limit (route.maxBodyBytes, 16 KiB by default): 413 before anything is parsed or read.
 * Also undoes API Gateway's base64 encoding so later steps see the body text.
 */
import { maxBodyBytes } from '../contract/routes.js';
import { httpError } from './errors.js';
import type { ApiMiddleware } from './middleware.js';

export function bodyLimit(): ApiMiddleware {
  return {
    name: 'body-limit',
    before: (request) => {
      const { event } = request;
      const route = request.context.api.route!;
      if (event.body === undefined || event.body === null || event.body === '') return;
      const bytes = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
      const limit = maxBodyBytes(route);
      if (bytes.length > limit) {
        throw httpError(
          'payload_too_large',
          `Request body is ${bytes.length} bytes; this route accepts at most ${limit}`,
          { limitBytes: limit, actualBytes: bytes.length },
        );
      }
      request.context.api.rawBody = bytes.toString('utf8');
    },
  };
}
