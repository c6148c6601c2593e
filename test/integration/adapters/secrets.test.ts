/**
 * Secret values on moto (Secrets Manager through the real client): read once, then served from the process cache
 * until it expires, so a rotated value (a new Slack webhook, a new operator token) is picked up without a redeploy;
 * a failed read is not cached.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestInfra, type TestInfra } from '../../support/infra.js';
import { putSecret } from '../../../local/secrets.js';

let infra: TestInfra;
let secrets: typeof import('../../../functions/adapters/common/secrets.js');
const T0 = Date.parse('2030-01-01T00:00:00Z');

before(async () => {
  infra = await createTestInfra({ POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
  secrets = await import('../../../functions/adapters/common/secrets.js');
});
after(() => infra.close());

test('a rotated secret is read again once the cached value expires, not before', async () => {
  const name = `${infra.prefix}-rotating`;
  await putSecret(name, 'value-1', 'rotation test');
  assert.equal(await secrets.getSecretString(name, T0), 'value-1');
  await putSecret(name, 'value-2', 'rotation test');
  assert.equal(await secrets.getSecretString(name, T0 + 1000), 'value-1', 'cached: no read per call');
  assert.equal(await secrets.getSecretString(name, T0 + secrets.SECRET_CACHE_MS), 'value-2', 'expired: read again');
});

test('a secret that cannot be read is not cached: the next call reads it again', async () => {
  const name = `${infra.prefix}-late`;
  await assert.rejects(secrets.getSecretString(name, T0));
  await putSecret(name, 'now-there', 'late secret');
  assert.equal(await secrets.getSecretString(name, T0 + 1), 'now-there');
});
