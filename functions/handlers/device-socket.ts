/**
 * Lambda `device-socket`: the push channel's WebSocket routes (docs/architecture.md "Push channel").
 *  - `$connect`: the device token in `Authorization: Bearer` is checked exactly as on the HTTP device routes
 *    (functions/http/device-auth.ts): unknown device or wrong token → 401 and nothing stored; over its request
 *    budget → 429. Accepted: the connection is stored on the device (services/push-connections.ts).
 *  - `$disconnect`: the connection is forgotten (a clean goodbye is recorded for liveness).
 *  - `$default` (every frame; route selection is on `action`, and no other route exists): `{"action":"ping"}` is
 *    answered with a pong, anything else with an error frame; the connection stays open either way.
 * The cloud → device notifications are posted by the functions that cause them (services/device-push.ts).
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MAX_CLIENT_FRAME_BYTES, PushClientMessage, type PushErrorFrame } from '../contract/push.js';
import { authenticateDevice } from '../http/device-auth.js';
import { HttpError } from '../http/errors.js';
import type { ApiEvent } from '../http/types.js';
import { forFunction, logger, metrics } from '../lib/observability.js';
import { safeParse } from '../lib/validation.js';
import { closeConnection, openConnection } from '../services/push-connections.js';

/** The parts of API Gateway's WebSocket event this function reads. */
export interface SocketEvent {
  requestContext: {
    routeKey: string;
    connectionId: string;
    eventType?: string;
    disconnectStatusCode?: number;
    requestTimeEpoch?: number;
  };
  headers?: Record<string, string | undefined>;
  body?: string | null;
  isBase64Encoded?: boolean;
}
export interface SocketResult {
  statusCode: number;
  body?: string;
}

const errorFrame = (message: string): SocketResult => ({
  statusCode: 400,
  body: JSON.stringify({ type: 'error', error: 'bad_message', message } satisfies PushErrorFrame),
});

async function onConnect(event: SocketEvent): Promise<SocketResult> {
  try {
    const principal = await authenticateDevice({ headers: event.headers ?? {} } as unknown as ApiEvent, undefined);
    if (principal.kind !== 'device') return { statusCode: 401 };
    await openConnection(principal.deviceId, event.requestContext.connectionId, Date.now());
    metrics.addMetric('push_connects', MetricUnit.Count, 1);
    return { statusCode: 200 };
  } catch (err) {
    if (err instanceof HttpError) {
      metrics.addMetric('push_connects_refused', MetricUnit.Count, 1);
      return { statusCode: err.statusCode };
    }
    throw err;
  }
}

async function onDisconnect(event: SocketEvent): Promise<SocketResult> {
  const closed = await closeConnection(
    event.requestContext.connectionId,
    event.requestContext.disconnectStatusCode,
    Date.now(),
  );
  if (closed.deviceId)
    logger.info('push connection closed', {
      deviceId: closed.deviceId,
      closeCode: event.requestContext.disconnectStatusCode,
      current: closed.wasCurrent,
      goodbye: closed.markedGone,
    });
  return { statusCode: 200 };
}

function onMessage(event: SocketEvent): SocketResult {
  const raw = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
  if (Buffer.byteLength(raw) > MAX_CLIENT_FRAME_BYTES)
    return errorFrame(`frame larger than ${MAX_CLIENT_FRAME_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return errorFrame('frame is not JSON');
  }
  if (!safeParse(PushClientMessage, json).success) return errorFrame('expected {"action":"ping"}');
  return { statusCode: 200, body: JSON.stringify({ type: 'pong' }) };
}

export async function route(event: SocketEvent): Promise<SocketResult> {
  switch (event.requestContext.routeKey) {
    case '$connect':
      return await onConnect(event);
    case '$disconnect':
      return await onDisconnect(event);
    default:
      return await onMessage(event);
  }
}

export const handler = forFunction(
  'device-socket',
  middy(route)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics)),
);
