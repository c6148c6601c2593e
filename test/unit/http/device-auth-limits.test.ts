/** The credentials cache's bounds and the per-device request budget, with explicit clocks. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CredentialsCache } from '../../../functions/http/device-credentials-cache.js';
import { RequestBudget } from '../../../functions/http/request-budget.js';
import { issueDeviceToken, matchToken, parseDeviceToken } from '../../../functions/lib/token.js';

const creds = { tokenSalt: 'aa', tokenHash: 'bb' };

test('a cached entry is trusted for less than the TTL and never after: the revocation bound', () => {
  const cache = new CredentialsCache({ maxEntries: 10, ttlMs: 60_000, minRefreshMs: 1000 });
  cache.put('dev-a', creds, 1_000_000);
  assert.ok(cache.fresh('dev-a', 1_000_000 + 59_999));
  assert.equal(cache.fresh('dev-a', 1_000_000 + 60_000), undefined, 'gone at the bound');
  assert.equal(cache.size, 0);
  // A clock that went backwards does not extend trust either.
  cache.put('dev-b', creds, 2_000_000);
  assert.equal(cache.fresh('dev-b', 1_999_999), undefined);
});

test('a refused token re-reads at most once per refresh floor', () => {
  const cache = new CredentialsCache({ maxEntries: 10, ttlMs: 60_000, minRefreshMs: 1000 });
  cache.put('dev-a', undefined, 5000);
  const entry = cache.fresh('dev-a', 5500)!;
  assert.equal(cache.mayRefresh(entry, 5999), false);
  assert.equal(cache.mayRefresh(entry, 6000), true);
});

test('the cache holds at most maxEntries, dropping the least recently used', () => {
  const cache = new CredentialsCache({ maxEntries: 3, ttlMs: 60_000, minRefreshMs: 1000 });
  for (const id of ['a', 'b', 'c']) cache.put(id, creds, 0);
  assert.ok(cache.fresh('a', 1)); // a is now the most recently used
  cache.put('d', creds, 2);
  assert.equal(cache.size, 3);
  assert.equal(cache.fresh('b', 3), undefined, 'b was the least recently used');
  assert.ok(cache.fresh('a', 3) && cache.fresh('c', 3) && cache.fresh('d', 3));
  const off = new CredentialsCache({ maxEntries: 3, ttlMs: 0, minRefreshMs: 0 });
  off.put('a', creds, 0);
  assert.equal(off.size, 0, 'TTL 0 disables caching');
});

test('the request budget: a burst, then the rate; Retry-After says when; other devices unaffected', () => {
  const budget = new RequestBudget({ ratePerSecond: 2, burst: 4, maxDevices: 100 });
  for (let i = 0; i < 4; i++) assert.deepEqual(budget.take('noisy', 0), { ok: true });
  const refused = budget.take('noisy', 0);
  assert.deepEqual(refused, { ok: false, retryAfterSeconds: 1 });
  assert.deepEqual(budget.take('quiet', 0), { ok: true }, 'another device has its own bucket');
  // Half a second later one request has been earned back (2 per second), and only one.
  assert.deepEqual(budget.take('noisy', 500), { ok: true });
  assert.equal(budget.take('noisy', 500).ok, false);
  // Never more than the burst, however long it waited.
  let ok = 0;
  for (let i = 0; i < 10; i++) if (budget.take('noisy', 3_600_000).ok) ok++;
  assert.equal(ok, 4);
  const slow = new RequestBudget({ ratePerSecond: 0.1, burst: 1, maxDevices: 100 });
  slow.take('x', 0);
  assert.deepEqual(slow.take('x', 0), { ok: false, retryAfterSeconds: 10 });
});

test('the request budget keeps at most maxDevices buckets', () => {
  const budget = new RequestBudget({ ratePerSecond: 1, burst: 1, maxDevices: 2 });
  budget.take('a', 0);
  budget.take('b', 0);
  budget.take('c', 0); // a's bucket is dropped: it restarts full
  assert.equal(budget.take('a', 0).ok, true);
  assert.equal(budget.take('c', 0).ok, false);
});

test('token shape: only what we issue passes, before any read', () => {
  const { token } = issueDeviceToken('dev-a');
  assert.deepEqual(parseDeviceToken(token)?.deviceId, 'dev-a');
  for (const bad of [
    'garbage',
    '.x',
    'dev-a.',
    `dev-a.${'A'.repeat(42)}`,
    `dev-a.${'A'.repeat(44)}`,
    `dev-a.${'A'.repeat(42)}=`,
    `${'d'.repeat(100)}.${'A'.repeat(43)}`,
  ]) {
    assert.equal(parseDeviceToken(bad), null, bad);
  }
});

test('a previous token matches only until its expiry', () => {
  const current = issueDeviceToken('dev-a');
  const previous = issueDeviceToken('dev-a');
  const stored = {
    tokenSalt: current.tokenSalt,
    tokenHash: current.tokenHash,
    previousTokenSalt: previous.tokenSalt,
    previousTokenHash: previous.tokenHash,
    previousTokenExpiresAt: 1000,
  };
  const secret = (t: string) => t.split('.')[1]!;
  assert.equal(matchToken(secret(current.token), stored, 5_000_000), 'current');
  assert.equal(matchToken(secret(previous.token), stored, 999_999), 'previous');
  assert.equal(matchToken(secret(previous.token), stored, 1_000_000), null);
  assert.equal(matchToken(secret(issueDeviceToken('dev-a').token), stored, 0), null);
});
