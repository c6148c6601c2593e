/** JSON body parsing for routes that take a body: missing or malformed → 400 invalid_json; non-JSON type → 415. */
import { httpError } from './errors.js';
import { header, type ApiMiddleware } from './middleware.js';

export function jsonBody(): ApiMiddleware {
  return {
    name: 'json-body',
    before: (request) => {
      const api = request.context.api;
      if (!api.route?.body) return;
      const contentType = header(request.event, 'content-type');
      if (contentType && !/^application\/([a-z0-9.+-]*\+)?json\b/i.test(contentType.trim())) {
        throw httpError(
          'unsupported_media_type',
          `Content-Type must be application/json, not ${contentType.slice(0, 100)}`,
          { contentType: contentType.slice(0, 100) },
        );
      }
      if (api.rawBody === undefined || api.rawBody.trim() === '')
        throw httpError('invalid_json', 'A JSON request body is required');
      try {
        api.json = JSON.parse(api.rawBody);
      } catch (err) {
        throw httpError('invalid_json', 'Request body is not valid JSON', {
          reason: (err as Error).message.slice(0, 200),
        });
      }
    },
  };
}
