/**
 * Device tokens: `<deviceId>.<random secret>`. The device id prefix lets the API find the device's
 * stored salt and hash with one GetItem; only sha256(salt ‖ secret) is stored, never the token.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface IssuedToken {
  /** Shown to the operator exactly once. */
  token: string;
  tokenSalt: string;
  tokenHash: string;
}

export function issueDeviceToken(deviceId: string): IssuedToken {
  const secret = randomBytes(32).toString('base64url');
  const tokenSalt = randomBytes(16).toString('hex');
  return { token: `${deviceId}.${secret}`, tokenSalt, tokenHash: hashSecret(tokenSalt, secret) };
}

export function hashSecret(salt: string, secret: string): string {
  return createHash('sha256').update(salt).update(secret).digest('hex');
}

/** The secret half of every token we issue: 32 random bytes, base64url, no padding. */
const SECRET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Split a presented token; null when it is not shaped exactly like one of ours. Strict on purpose: a token
 * refused here costs no DynamoDB read at all (docs/architecture.md, "What protects the device API").
 */
export function parseDeviceToken(token: string): { deviceId: string; secret: string } | null {
  const dot = token.indexOf('.');
  if (dot <= 0 || token.length > 128) return null;
  const secret = token.slice(dot + 1);
  if (!SECRET_SHAPE.test(secret)) return null;
  return { deviceId: token.slice(0, dot), secret };
}

/**
 * What a device's META item holds about its tokens: the current one and, for a stated overlap after a
 * rotation, the previous one (so a device that has not picked up its new token yet is not locked out).
 */
export interface StoredCredentials {
  tokenSalt: string;
  tokenHash: string;
  previousTokenSalt?: string;
  previousTokenHash?: string;
  /** Epoch seconds after which the previous token is refused (also what the META item's readers compare). */
  previousTokenExpiresAt?: number;
}

export type TokenMatch = 'current' | 'previous';

/** Which of the device's valid tokens `secret` is, if any, at `now` (epoch ms). */
export function matchToken(secret: string, creds: StoredCredentials, now: number): TokenMatch | null {
  if (verifySecret(secret, creds.tokenSalt, creds.tokenHash)) return 'current';
  if (
    creds.previousTokenSalt &&
    creds.previousTokenHash &&
    creds.previousTokenExpiresAt !== undefined &&
    now < creds.previousTokenExpiresAt * 1000 &&
    verifySecret(secret, creds.previousTokenSalt, creds.previousTokenHash)
  ) {
    return 'previous';
  }
  return null;
}

/** Constant-time comparison of the presented secret against the stored salted hash. */
export function verifySecret(secret: string, salt: string, storedHash: string): boolean {
  const presented = Buffer.from(hashSecret(salt, secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}

/** Constant-time equality for two strings of any length (operator bearer token vs. the secret's value). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}
