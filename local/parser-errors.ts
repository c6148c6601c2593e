/**
 * Requests Node's HTTP parser refuses before our server sees them (an unknown method, control characters in
 * the path, Content-Length together with chunked encoding, oversized headers). Node's default answer is a
 * bodiless 400; API Gateway answers such requests with its JSON error, and a method it has no route for like
 * any other: 405 on a path that exists (with Allow), 404 elsewhere. So do we, then close the connection
 * (after a parse error the rest of the stream cannot be trusted).
 */
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { matchRoute } from '../functions/contract/routes.js';
import { gatewayError, type HttpResponseParts } from './apigw-event.js';

type ParserError = Error & { code?: string; rawPacket?: Buffer };

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  431: 'Request Header Fields Too Large',
};

/** What API Gateway would answer for a request our parser could not read. */
export function parserErrorResponse(err: ParserError): HttpResponseParts {
  if (err.code === 'HPE_HEADER_OVERFLOW')
    return gatewayError(431, 'request_header_fields_too_large', 'Request Header Fields Too Large');
  if (err.code === 'HPE_INVALID_METHOD' && err.rawPacket) {
    const [method = '', target = ''] = err.rawPacket.toString('latin1').split('\r\n', 1)[0]!.split(' ');
    const path = target.split('?', 1)[0]!;
    // Only a clean request line is routed; anything else is just a bad request.
    if (/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/.test(method) && /^\/[\x21-\x7e]*$/.test(path)) {
      let match: ReturnType<typeof matchRoute> = null;
      try {
        match = matchRoute(method.toUpperCase(), path);
      } catch {
        return gatewayError(400, 'bad_request', 'Malformed request path');
      }
      if (match && 'allowed' in match) {
        const parts = gatewayError(405, 'method_not_allowed', `Method ${method} not allowed on ${path}`, {
          allowed: match.allowed,
        });
        parts.headers.allow = match.allowed.join(', ');
        return parts;
      }
      return gatewayError(404, 'not_found', 'Not Found', { method, path });
    }
  }
  return gatewayError(400, 'bad_request', 'Bad Request', { reason: err.code ?? 'unparseable request' });
}

/** The server's `clientError` listener. */
export function answerParserError(err: ParserError, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const parts = parserErrorResponse(err);
  const headers = {
    ...parts.headers,
    'content-length': String(parts.body.length),
    'apigw-requestid': randomUUID(),
    connection: 'close',
  };
  const head = `HTTP/1.1 ${parts.statusCode} ${REASONS[parts.statusCode] ?? 'Error'}\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n')}\r\n\r\n`;
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), parts.body]));
}
