/**
 * Operator authentication. OPERATOR_AUTH=iam trusts API Gateway's IAM authorizer (requestContext.authorizer.iam);
 * without it the request did not come through an IAM-authorised route → 401. OPERATOR_AUTH=bearer compares the
 * bearer token, in constant time, with the value of the Secrets Manager secret OPERATOR_TOKEN_SECRET_ID
 * (local mode), fetched once per process.
 */
import { getSecretString } from '../adapters/common/secrets.js';
import { config } from '../lib/config.js';
import { safeEqual } from '../lib/token.js';
import { httpError } from './errors.js';
import { bearerToken, CHALLENGE } from './bearer.js';
import type { ApiEvent, Principal } from './types.js';

export async function authenticateOperator(event: ApiEvent): Promise<Principal> {
  if (config.operatorAuth === 'iam') {
    const iam = (
      event.requestContext as { authorizer?: { iam?: { userArn?: string; callerId?: string; accountId?: string } } }
    ).authorizer?.iam;
    if (!iam) throw httpError('unauthorized', 'This route requires IAM (SigV4) authorisation');
    return { kind: 'operator', id: iam.userArn ?? iam.callerId ?? iam.accountId ?? 'iam' };
  }
  const presented = bearerToken(event);
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
