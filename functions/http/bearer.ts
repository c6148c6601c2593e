import { httpError } from './errors.js';
import { header } from './middleware.js';
import type { ApiEvent } from './types.js';

export const CHALLENGE = { 'www-authenticate': 'Bearer' };

/** The token of `Authorization: Bearer <token>`; 401 when missing or another scheme. */
export function bearerToken(event: ApiEvent): string {
  const value = header(event, 'authorization');
  if (!value) throw httpError('unauthorized', 'Missing Authorization: Bearer token', undefined, CHALLENGE);
  const m = /^Bearer\s+(\S+)\s*$/i.exec(value);
  if (!m) throw httpError('unauthorized', 'Authorization must be a Bearer token', undefined, CHALLENGE);
  return m[1]!;
}
