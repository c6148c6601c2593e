/**
 * The local API Gateway WebSocket API (the push channel, cdk/lib/device-push.ts), on one node:http server:
 *  - `ws://host:port/<stage>`: the WebSocket endpoint. The upgrade request becomes a `$connect` event for the real
 *    handler; anything but a 2xx answer refuses the handshake with that status (nothing connected). Each text
 *    frame is routed on its JSON `action` (a route of that name if one exists, else `$default`), as the API's
 *    route selection expression `$request.body.action` does; a route with a route response sends the handler's
 *    `body` back. A close (by either side) becomes a `$disconnect` event with `disconnectStatusCode`.
 *  - `http://host:port/<stage>/@connections/<id>`: the management API (POST a frame, GET info, DELETE), which the
 *    handlers reach with the real `@aws-sdk/client-apigatewaymanagementapi` client through PUSH_CALLBACK_URL. An
 *    unknown or closed connection answers 410 GoneException, as API Gateway does.
 * API Gateway's limits are reproduced so the agent is tested against them: a connection idle (no frame from the
 * client) for `idleTimeoutMs` (10 min) or open for `maxConnectionMs` (2 h) is closed by the gateway (1001).
 * Route throttling: API Gateway throttles per route and stage; here each connection also gets its own token bucket
 * (`messageRate`), so one connection flooding frames is answered "Too Many Requests" without reaching the handler
 * and without slowing anyone else's frames.
 *
 * Longer than the ~400 lines a file keeps to: one server's whole connection life cycle (upgrade, frames,
 * limits, management API, disconnect), which shares the connection table.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { PUSH_CHANNEL } from '../infra/spec.js';
import { LOCAL_API_ID } from './apigw-event.js';
import type { HandlerResolver } from './handlers.js';
import { createStageThrottle, type StageThrottle, type StageThrottleLimits } from './stage-throttle.js';
import { invokeWithTimeout } from './lambda-context.js';

/** API Gateway WebSocket limits (docs: "Amazon API Gateway quotas for WebSocket APIs"), from infra/spec.ts. */
export const WEBSOCKET_IDLE_TIMEOUT_MS = PUSH_CHANNEL.idleTimeoutSeconds * 1000;
export const WEBSOCKET_MAX_CONNECTION_MS = PUSH_CHANNEL.maxConnectionSeconds * 1000;
export const WEBSOCKET_MAX_FRAME_BYTES = 128 * 1024;
/** API Gateway's integration timeout for WebSocket APIs. */
export const WEBSOCKET_INTEGRATION_TIMEOUT_MS = 29_000;

export interface MessageRate {
  ratePerSecond: number;
  burst: number;
}
/** Per connection: plenty for a device (it pings every few minutes), nothing for a flood. */
export const DEFAULT_MESSAGE_RATE: MessageRate = { ratePerSecond: 5, burst: 20 };

export interface WebSocketGatewayOptions {
  resolve: HandlerResolver;
  /** The function behind every route. */
  functionName?: string;
  stage?: string;
  port?: number;
  host?: string;
  /** Route keys besides `$connect`/`$disconnect`/`$default` (none in the deployed API). */
  customRoutes?: string[];
  /** Routes whose handler answer is sent back to the caller (the deployed API: `$default`). */
  returnResponse?: string[];
  messageRate?: MessageRate;
  /**
   * The stage's route throttling: each route its own bucket with these limits, as the deployed stage's
   * DefaultRouteSettings do (local/stage-throttle.ts). Over it, a $connect is refused 429, a frame is answered
   * "Too Many Requests".
   */
  routeThrottle?: StageThrottleLimits;
  idleTimeoutMs?: number;
  maxConnectionMs?: number;
  timeoutMs?: number;
  log?: (line: string) => void;
  /** Each frame posted through @connections to an open connection (the bench times notifications with it). */
  onPost?: (connectionId: string, at: number) => void;
}

export interface GatewayStats {
  connects: number;
  refused: number;
  messages: number;
  throttled: number;
  posts: number;
  gone: number;
  disconnects: number;
  /** Closes the gateway made itself, by reason. */
  closedByGateway: { idle: number; maxAge: number; deleted: number };
}

export interface WebSocketGateway {
  /** ws:// URL devices connect to. */
  url: string;
  /** The `@connections` endpoint (what PUSH_CALLBACK_URL holds). */
  callbackUrl: string;
  port: number;
  stats: GatewayStats;
  connectionIds(): string[];
  /** Cut a connection without a close handshake (a network loss); `$disconnect` still runs, with 1006. */
  drop(connectionId: string): void;
  close(): Promise<void>;
}

interface Connection {
  id: string;
  ws: WebSocket;
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent: string;
  tokens: number;
  refilledAt: number;
  closedBy?: 'idle' | 'maxAge' | 'deleted';
  idleTimer?: NodeJS.Timeout;
  ageTimer?: NodeJS.Timeout;
}

/** API Gateway connection ids look like `L0SM9cOFvHcCIhw=`. */
const newConnectionId = () => randomBytes(10).toString('base64');

export async function startWebSocketGateway(opts: WebSocketGatewayOptions): Promise<WebSocketGateway> {
  const fnName = opts.functionName ?? 'device-socket';
  const stage = opts.stage ?? PUSH_CHANNEL.stageName;
  const rate = opts.messageRate ?? DEFAULT_MESSAGE_RATE;
  const idleMs = opts.idleTimeoutMs ?? WEBSOCKET_IDLE_TIMEOUT_MS;
  const maxAgeMs = opts.maxConnectionMs ?? WEBSOCKET_MAX_CONNECTION_MS;
  const timeoutMs = opts.timeoutMs ?? WEBSOCKET_INTEGRATION_TIMEOUT_MS;
  const customRoutes = new Set(opts.customRoutes ?? []);
  const returnResponse = new Set<string>(opts.returnResponse ?? PUSH_CHANNEL.returnResponse);
  const log = opts.log ?? (() => {});
  const stats: GatewayStats = {
    connects: 0,
    refused: 0,
    messages: 0,
    throttled: 0,
    posts: 0,
    gone: 0,
    disconnects: 0,
    closedByGateway: { idle: 0, maxAge: 0, deleted: 0 },
  };
  const connections = new Map<string, Connection>();
  const routeBuckets = new Map<string, StageThrottle>();
  const routeAdmits = (routeKey: string): boolean => {
    if (!opts.routeThrottle) return true;
    let bucket = routeBuckets.get(routeKey);
    if (!bucket) {
      bucket = createStageThrottle(opts.routeThrottle);
      routeBuckets.set(routeKey, bucket);
    }
    return bucket.take();
  };
  // API Gateway negotiates no compression extension.
  const wss = new WebSocketServer({ noServer: true, maxPayload: WEBSOCKET_MAX_FRAME_BYTES, perMessageDeflate: false });
  let domainName = 'localhost';

  const requestContext = (
    c: Pick<Connection, 'id' | 'connectedAt' | 'sourceIp' | 'userAgent'>,
    routeKey: string,
    eventType: string,
    extra: Record<string, unknown> = {},
  ) => {
    const now = Date.now();
    return {
      routeKey,
      eventType,
      messageDirection: 'IN',
      stage,
      connectedAt: c.connectedAt,
      requestTimeEpoch: now,
      requestTime: new Date(now).toUTCString(),
      requestId: randomUUID(),
      extendedRequestId: randomUUID(),
      identity: { sourceIp: c.sourceIp, userAgent: c.userAgent },
      domainName,
      connectionId: c.id,
      apiId: LOCAL_API_ID,
      ...extra,
    };
  };
  const invoke = async (event: unknown): Promise<{ statusCode?: number; body?: unknown } | undefined> => {
    const handler = await opts.resolve(fnName);
    return (await invokeWithTimeout(handler, event, fnName, timeoutMs)) as
      | { statusCode?: number; body?: unknown }
      | undefined;
  };

  // ---- the WebSocket side

  const armIdle = (c: Connection) => {
    if (c.idleTimer) clearTimeout(c.idleTimer);
    c.idleTimer = setTimeout(() => closeByGateway(c, 'idle'), idleMs);
    c.idleTimer.unref();
  };
  const closeByGateway = (c: Connection, reason: 'idle' | 'maxAge' | 'deleted') => {
    if (c.closedBy || !connections.has(c.id)) return;
    c.closedBy = reason;
    stats.closedByGateway[reason]++;
    c.ws.close(reason === 'deleted' ? 1000 : 1001, 'Going away');
    // A client that never answers the close handshake is cut after a second.
    setTimeout(() => c.ws.terminate(), 1000).unref();
  };

  const onUpgrade = async (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '');
    if (path !== `/${stage}`) {
      refuse(socket, 404);
      return;
    }
    domainName = req.headers.host ?? domainName;
    if (!routeAdmits('$connect')) {
      stats.refused++;
      stats.throttled++;
      refuse(socket, 429);
      return;
    }
    const now = Date.now();
    const c = {
      id: newConnectionId(),
      connectedAt: now,
      sourceIp: normaliseIp(socket.remoteAddress),
      userAgent: String(req.headers['user-agent'] ?? ''),
    };
    const headers: Record<string, string> = {};
    const multiValueHeaders: Record<string, string[]> = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      const value = req.rawHeaders[i + 1]!;
      headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
      multiValueHeaders[name] ??= [];
      multiValueHeaders[name].push(value);
    }
    let result: { statusCode?: number } | undefined;
    try {
      result = await invoke({
        headers,
        multiValueHeaders,
        requestContext: requestContext(c, '$connect', 'CONNECT'),
        isBase64Encoded: false,
      });
    } catch (err) {
      log(`[push] $connect failed: ${(err as Error)?.stack ?? String(err)}`);
      stats.refused++;
      refuse(socket, 500);
      return;
    }
    const status = result?.statusCode ?? 200;
    if (status < 200 || status > 299) {
      stats.refused++;
      refuse(socket, status);
      return;
    }
    if (socket.destroyed) {
      // The client left during $connect: API Gateway runs $disconnect for an accepted connection.
      void disconnect(
        { ...c, ws: undefined as never, lastActiveAt: now, tokens: 0, refilledAt: now },
        1006,
        'client left during $connect',
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn: Connection = { ...c, ws, lastActiveAt: now, tokens: rate.burst, refilledAt: performance.now() };
      connections.set(conn.id, conn);
      stats.connects++;
      armIdle(conn);
      conn.ageTimer = setTimeout(() => closeByGateway(conn, 'maxAge'), maxAgeMs);
      conn.ageTimer.unref();
      ws.on('message', (data, isBinary) => onFrame(conn, data as Buffer, isBinary));
      ws.on('close', (code, reason) => {
        clearTimeout(conn.idleTimer);
        clearTimeout(conn.ageTimer);
        connections.delete(conn.id);
        void disconnect(conn, code, reason.toString());
      });
      ws.on('error', () => ws.terminate());
    });
  };

  const disconnect = async (c: Connection, code: number, reason: string) => {
    stats.disconnects++;
    try {
      await invoke({
        headers: {},
        requestContext: requestContext(c, '$disconnect', 'DISCONNECT', {
          disconnectStatusCode: code,
          disconnectReason: reason,
        }),
        isBase64Encoded: false,
      });
    } catch (err) {
      log(`[push] $disconnect failed: ${(err as Error)?.stack ?? String(err)}`);
    }
  };

  const takeToken = (c: Connection): boolean => {
    const t = performance.now();
    c.tokens = Math.min(rate.burst, c.tokens + ((t - c.refilledAt) / 1000) * rate.ratePerSecond);
    c.refilledAt = t;
    if (c.tokens < 1) return false;
    c.tokens -= 1;
    return true;
  };

  const onFrame = (c: Connection, data: Buffer, isBinary: boolean) => {
    c.lastActiveAt = Date.now();
    armIdle(c);
    if (!takeToken(c) || !routeAdmits('$default')) {
      stats.throttled++;
      send(c, JSON.stringify({ message: 'Too Many Requests', connectionId: c.id, requestId: randomUUID() }));
      return;
    }
    stats.messages++;
    const body = isBinary ? data.toString('base64') : data.toString('utf8');
    let routeKey = '$default';
    if (!isBinary) {
      try {
        const action = (JSON.parse(body) as { action?: unknown })?.action;
        if (typeof action === 'string' && customRoutes.has(action)) routeKey = action;
      } catch {
        /* not JSON: $default */
      }
    }
    void invoke({
      requestContext: requestContext(c, routeKey, 'MESSAGE', { messageId: randomUUID() }),
      body,
      isBase64Encoded: isBinary,
    }).then(
      (result) => {
        if (returnResponse.has(routeKey) && typeof result?.body === 'string') send(c, result.body);
      },
      (err: unknown) => {
        log(`[push] ${routeKey} failed: ${(err as Error)?.message ?? String(err)}`);
        send(c, JSON.stringify({ message: 'Internal server error', connectionId: c.id, requestId: randomUUID() }));
      },
    );
  };

  const send = (c: Connection, text: string) => {
    if (c.ws.readyState === c.ws.OPEN) c.ws.send(text);
  };

  // ---- the @connections management API

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const m = new RegExp(`^/${stage}/@connections/([^/?]+)$`).exec((req.url ?? '').split('?')[0]!);
    if (!m) return answer(res, 404, { message: 'Not Found' });
    let id: string;
    try {
      id = decodeURIComponent(m[1]!);
    } catch {
      return answer(res, 400, { message: 'Bad connection id' }, 'BadRequestException');
    }
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const c = connections.get(id);
      const open = c && !c.closedBy && c.ws.readyState === c.ws.OPEN;
      if (req.method === 'POST') {
        stats.posts++;
        const data = Buffer.concat(chunks);
        if (data.length > WEBSOCKET_MAX_FRAME_BYTES)
          return answer(res, 413, { message: 'Payload too large' }, 'PayloadTooLargeException');
        if (!open) {
          stats.gone++;
          return answer(res, 410, { message: `Connection ${id} is gone` }, 'GoneException');
        }
        c.ws.send(data.toString('utf8'));
        opts.onPost?.(id, Date.now());
        return answer(res, 200);
      }
      if (req.method === 'GET') {
        if (!open) return answer(res, 410, { message: `Connection ${id} is gone` }, 'GoneException');
        return answer(res, 200, {
          connectedAt: new Date(c.connectedAt).toISOString(),
          lastActiveAt: new Date(c.lastActiveAt).toISOString(),
          identity: { sourceIp: c.sourceIp, userAgent: c.userAgent },
        });
      }
      if (req.method === 'DELETE') {
        if (!open) return answer(res, 410, { message: `Connection ${id} is gone` }, 'GoneException');
        closeByGateway(c, 'deleted');
        return answer(res, 204);
      }
      return answer(res, 405, { message: 'Method Not Allowed' });
    });
  };

  const server = createServer(onRequest);
  server.on('upgrade', (req, socket, head) => void onUpgrade(req, socket as Socket, head));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `ws://${host}:${port}/${stage}`,
    callbackUrl: `http://${host}:${port}/${stage}`,
    port,
    stats,
    connectionIds: () => [...connections.keys()],
    drop(connectionId) {
      connections.get(connectionId)?.ws.terminate();
    },
    async close() {
      // Connections end as they do when a stage goes away; their $disconnect runs.
      const closing = [...connections.values()].map(
        (c) =>
          new Promise<void>((r) => {
            c.ws.once('close', () => r());
            c.ws.close(1001, 'Going away');
            setTimeout(() => c.ws.terminate(), 1000).unref();
          }),
      );
      await Promise.all(closing);
      wss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function answer(res: ServerResponse, status: number, body?: unknown, errorType?: string): void {
  if (errorType) res.setHeader('x-amzn-errortype', errorType);
  if (body !== undefined) {
    const text = JSON.stringify(body);
    res.setHeader('content-type', 'application/json');
    res.setHeader('content-length', Buffer.byteLength(text));
    res.statusCode = status;
    res.end(text);
  } else {
    res.statusCode = status;
    res.end();
  }
}

function refuse(socket: Socket, status: number): void {
  if (socket.destroyed) return;
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function normaliseIp(ip: string | undefined): string {
  if (!ip) return '127.0.0.1';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}
