import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertDocumented } from '../../support/openapi-conformance.js';

const json = { 'content-type': 'application/json' };

test('the conformance check accepts what the document says and rejects what it does not', async () => {
  const health = { status: 'ok', version: '1', time: '2025-01-01T00:00:00Z' };
  await assertDocumented('GET', '/v1/health', 200, json, health, JSON.stringify(health));
  const err = { error: 'method_not_allowed', message: 'no' };
  await assertDocumented('PATCH', '/v1/health', 405, json, err, JSON.stringify(err));
  await assert.rejects(assertDocumented('GET', '/v1/health', 418, json, err, JSON.stringify(err)), /does not list/);
  await assert.rejects(assertDocumented('GET', '/v1/health', 200, json, { status: 'maybe' }, '{}'), /does not match/);
  await assert.rejects(
    assertDocumented('GET', '/v1/devices/dev-a', 500, json, { message: 'no code' }, '{}'),
    /does not match/,
  );
});
