/** The local API Gateway's stage throttle: a token bucket with burst, as the deployed stage enforces it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createStageThrottle, localStageThrottle } from '../../local/stage-throttle.js';

test('burst first, then the steady rate; a refused request takes no token', () => {
  let t = 0;
  const bucket = createStageThrottle({ rateLimit: 10, burstLimit: 3 }, () => t);
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false]);
  t += 100; // one token at 10/s
  assert.deepEqual([bucket.take(), bucket.take()], [true, false]);
  t += 10_000; // refills to the burst, never beyond
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false]);
  assert.equal(bucket.refused, 3);
});

test('the local fleet uses the limits the stack synthesizes from fleetSize', () => {
  assert.deepEqual(localStageThrottle(), { rateLimit: 43, burstLimit: 86 });
});

test('the local API Gateway answers 429 over the limit before any Lambda runs', async () => {
  const { startApiServer } = await import('../../local/http-server.js');
  let invoked = 0;
  const handler = async () => {
    invoked++;
    return { statusCode: 200, body: '{"status":"ok"}' };
  };
  const api = await startApiServer({
    resolve: async () => handler as never,
    throttle: createStageThrottle({ rateLimit: 0.001, burstLimit: 2 }),
  });
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${api.url}/v1/health`)).status);
    assert.deepEqual(statuses, [200, 200, 429]);
    assert.equal(invoked, 2, 'the throttled request never reached the function');
  } finally {
    await api.close();
  }
});
