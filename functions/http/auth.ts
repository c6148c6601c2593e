/**
 * Authentication per route (route.auth):
 *  - device:   `Authorization: Bearer <deviceId>.<secret>`; the device's META item holds a salted hash, compared
 *              in constant time. Unknown device, malformed or wrong token → 401 (indistinguishable on purpose).
 *              A valid token used on another device's path → 403.
 *  - operator: OPERATOR_AUTH=iam trusts API Gateway's IAM authorizer (requestContext.authorizer.iam); without it
 *              the request did not come through an IAM-authorised route → 401. OPERATOR_AUTH=bearer compares the
 *              bearer token with the value of the Secrets Manager secret OPERATOR_TOKEN_SECRET_ID (local mode).
 *  - public:   nothing.
 * Runs before the body is parsed, so unauthenticated callers learn nothing about validation.
 */
import { DeviceId } from '../contract/common.js';
import { getDeviceMeta } from '../adapters/devices-repo.js';
import { getSecretString } from '../adapters/secrets.js';
import { config } from '../lib/config.js';
import { logger } from '../lib/observability.js';
import { parseDeviceToken, safeEqual, verifySecret } from '../lib/token.js';
import { httpError } from './errors.js';
import { header, type ApiMiddleware } from './middleware.js';
import type { ApiEvent, Principal } from './types.js';

const CHALLENGE = { 'www-authenticate': 'Bearer' };

function bearer(event: ApiEvent): string {
  const value = header(event, 'authorization');
  if (!value) throw httpError('unauthorized', 'Missing Authorization: Bearer token', undefined, CHALLENGE);
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value);
  if (!m) throw httpError('unauthorized', 'Authorization must be a Bearer token', undefined, CHALLENGE);
  return m[1]!;
}

export async function authenticateDevice(event: ApiEvent, pathDeviceId: string | undefined): Promise<Principal> {
  const parsed = parseDeviceToken(bearer(event));
  const invalid = () => httpError('unauthorized', 'Invalid device token', undefined, CHALLENGE);
  if (!parsed || !DeviceId.safeParse(parsed.deviceId).success) throw invalid();
  const meta = await getDeviceMeta(parsed.deviceId);
  if (!meta || !verifySecret(parsed.secret, meta.tokenSalt, meta.tokenHash)) throw invalid();
  if (pathDeviceId !== undefined && pathDeviceId !== parsed.deviceId) {
    logger.warn('device touched another device', { tokenDevice: parsed.deviceId, pathDevice: pathDeviceId.slice(0, 64) });
    throw httpError('forbidden', 'A device may only access its own resources');
  }
  return { kind: 'device', deviceId: parsed.deviceId };
}

export async function authenticateOperator(event: ApiEvent): Promise<Principal> {
  if (config.operatorAuth === 'iam') {
    const iam = (event.requestContext as { authorizer?: { iam?: { userArn?: string; callerId?: string; accountId?: string } } }).authorizer?.iam;
    if (!iam) throw httpError('unauthorized', 'This route requires IAM (SigV4) authorisation');
    return { kind: 'operator', id: iam.userArn ?? iam.callerId ?? iam.accountId ?? 'iam' };
  }
  const presented = bearer(event);
  const stored = await operatorToken();
  if (!safeEqual(presented, stored)) throw httpError('unauthorized', 'Invalid operator token', undefined, CHALLENGE);
  return { kind: 'operator', id: 'operator' };
}

/** The secret may hold the token itself or JSON `{"token": "..."}`. */
async function operatorToken(): Promise<string> {
  const value = await getSecretString(config.operatorTokenSecretId);
  if (value.trimStart().startsWith('{')) {
    try {
      const token = (JSON.parse(value) as { token?: unknown }).token;
      if (typeof token === 'string' && token) return token;
    } catch {
      /* not JSON: the value is the token */
    }
  }
  return value;
}

export function auth(): ApiMiddleware {
  return {
    name: 'auth',
    before: async (request) => {
      const api = request.context.api;
      switch (api.route!.auth) {
        case 'public':
          return;
        case 'device':
          api.principal = await authenticateDevice(request.event, request.event.pathParameters?.deviceId ?? (api.params.deviceId as string | undefined));
          return;
        case 'operator':
          api.principal = await authenticateOperator(request.event);
          return;
      }
    },
  };
}
