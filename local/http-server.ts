/**
 * The local API Gateway: a node:http server that matches requests against the route table, turns them into
 * HTTP API payload-v2 events, invokes the route's Lambda handler (device-api / operator-api) and writes its
 * structured response back. Gateway-level behaviour (404/405, 10 MB body limit, integration timeout)
 * is reproduced here; everything else (auth, per-route limits, validation) is the handler's job, as in AWS.
 */
import { answerParserError } from './parser-errors.js';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { matchRoute, routeKey } from '../functions/contract/routes.js';
import type { StageThrottle } from './stage-throttle.js';
import { buildHttpApiEvent, gatewayError, splitUrl, toHttpResponse, type HttpResponseParts } from './apigw-event.js';
import { invokeWithTimeout, LambdaTimeoutError } from './lambda-context.js';
import { MissingHandlerError, type HandlerResolver } from './handlers.js';

/** API Gateway's payload limit for HTTP APIs. */
export const GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;
/** API Gateway's maximum integration timeout for HTTP APIs. */
export const GATEWAY_TIMEOUT_MS = 29_000;

export interface AccessLogEntry {
  method: string;
  path: string;
  status: number;
  ms: number;
  routeKey?: string;
  requestId: string;
  error?: string;
}

export interface ApiServerOptions {
  resolve: HandlerResolver;
  port?: number;
  host?: string;
  maxBodyBytes?: number;
  timeoutMs?: number;
  onAccess?: (entry: AccessLogEntry) => void;
  /** The stage throttle (local/stage-throttle.ts); none: unthrottled. */
  throttle?: StageThrottle;
}

export interface ApiServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const maxBody = opts.maxBodyBytes ?? GATEWAY_MAX_BODY_BYTES;
  const timeoutMs = opts.timeoutMs ?? GATEWAY_TIMEOUT_MS;

  const server = createServer((req, res) => {
    const started = Date.now();
    const requestId = randomUUID();
    void serve(req, requestId).then(
      ({ parts, routeKey: key, error }) => {
        write(res, parts, requestId);
        opts.onAccess?.({
          method: req.method ?? '',
          path: splitUrl(req.url ?? '/').rawPath,
          status: parts.statusCode,
          ms: Date.now() - started,
          routeKey: key,
          requestId,
          error,
        });
      },
      (err: unknown) => {
        write(res, gatewayError(500, 'internal_error', 'Internal Server Error'), requestId);
        opts.onAccess?.({
          method: req.method ?? '',
          path: req.url ?? '/',
          status: 500,
          ms: Date.now() - started,
          requestId,
          error: String(err),
        });
      },
    );
  });

  async function serve(
    req: IncomingMessage,
    requestId: string,
  ): Promise<{ parts: HttpResponseParts; routeKey?: string; error?: string }> {
    const method = (req.method ?? 'GET').toUpperCase();
    const { rawPath } = splitUrl(req.url ?? '/');
    let match: ReturnType<typeof matchRoute>;
    try {
      match = matchRoute(method, rawPath);
    } catch {
      // decodeURIComponent on a malformed escape: API Gateway answers 400 before any Lambda runs.
      return { parts: gatewayError(400, 'bad_request', 'Malformed request path') };
    }
    if (!match) {
      await drain(req);
      return { parts: gatewayError(404, 'not_found', 'Not Found', { method, path: rawPath }) };
    }
    if ('allowed' in match) {
      await drain(req);
      const parts = gatewayError(405, 'method_not_allowed', `Method ${method} not allowed on ${rawPath}`, {
        allowed: match.allowed,
      });
      parts.headers.allow = match.allowed.join(', ');
      return { parts };
    }
    if (opts.throttle && !opts.throttle.take()) {
      req.resume();
      return { parts: gatewayError(429, 'too_many_requests', 'Too Many Requests') };
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBody) {
      req.resume();
      return { parts: gatewayError(413, 'payload_too_large', 'Request Entity Too Large', { limitBytes: maxBody }) };
    }
    const body = await readBody(req, maxBody);
    if (body === 'too-large')
      return { parts: gatewayError(413, 'payload_too_large', 'Request Entity Too Large', { limitBytes: maxBody }) };

    const key = routeKey(match.route);
    const event = buildHttpApiEvent({
      method,
      url: req.url ?? '/',
      rawHeaders: req.rawHeaders,
      body,
      sourceIp: normaliseIp(req.socket.remoteAddress),
      routeKey: key,
      pathParameters: match.pathParameters,
      host: req.headers.host ?? 'localhost',
      requestId,
    });
    try {
      const handler = await opts.resolve(match.route.fn);
      const result = await invokeWithTimeout(handler, event, match.route.fn, timeoutMs);
      return { parts: toHttpResponse(result), routeKey: key };
    } catch (err) {
      if (err instanceof MissingHandlerError) {
        return {
          parts: gatewayError(501, 'not_implemented', err.message, { function: err.functionName }),
          routeKey: key,
          error: err.message,
        };
      }
      if (err instanceof LambdaTimeoutError) {
        // HTTP API answers 503 when the integration times out.
        return {
          parts: gatewayError(503, 'service_unavailable', 'Service Unavailable'),
          routeKey: key,
          error: err.message,
        };
      }
      // An unhandled Lambda error: API Gateway shows nothing of it to the caller.
      return {
        parts: gatewayError(500, 'internal_error', 'Internal Server Error'),
        routeKey: key,
        error: (err as Error)?.stack ?? String(err),
      };
    }
  }

  // What Node's parser refuses gets API Gateway's JSON answer, not Node's bodiless 400.
  server.on('clientError', answerParserError);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Keep-alive clients (the agent, autocannon) must not hold shutdown hostage.
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      }),
  };
}

function write(res: ServerResponse, parts: HttpResponseParts, requestId: string): void {
  if (res.headersSent) return;
  for (const [k, v] of Object.entries(parts.headers)) res.setHeader(k, v);
  if (parts.cookies.length) res.setHeader('set-cookie', parts.cookies);
  res.setHeader('apigw-requestid', requestId);
  res.setHeader('content-length', parts.body.length);
  res.statusCode = parts.statusCode;
  res.end(parts.body);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(over ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function drain(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    req.on('end', resolve);
    req.on('error', () => resolve());
    req.resume();
  });
}

function normaliseIp(ip: string | undefined): string {
  if (!ip) return '127.0.0.1';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}
