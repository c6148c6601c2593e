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

/** Split a presented token; null when it is not shaped like one of ours. */
export function parseDeviceToken(token: string): { deviceId: string; secret: string } | null {
  const dot = token.indexOf('.');
  if (dot <= 0 || dot === token.length - 1 || token.length > 512) return null;
  return { deviceId: token.slice(0, dot), secret: token.slice(dot + 1) };
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
