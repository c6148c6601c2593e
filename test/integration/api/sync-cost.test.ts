/**
 * Every sync publishes what it cost: DynamoDB calls and the read/write units DynamoDB reported for them, and the
 * bytes in and out, as metrics of the request's own EMF document, for that request alone. (The emulator reports
 * placeholder units, e.g. none for UpdateItem; AWS reports the real ones: the test checks they are collected and
 * not mixed between requests, not their values.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';
import { captureEmf } from '../../support/emf.js';

const emf = captureEmf();
let fx: ApiFixture;
before(async () => {
  fx = await createApiFixture({ POWERTOOLS_METRICS_DISABLED: 'false' });
});
after(async () => {
  emf.restore();
  await fx.close();
});

const report = (deviceId: string, seq: number, kind: 'full' | 'delta') => ({
  deviceId,
  seq,
  kind,
  agentVersion: '2.0.0',
  uptimeSeconds: seq * 60,
  sentAt: new Date().toISOString(),
  services: kind === 'full' ? [{ name: 'web', image: 'lab/web:1', status: 'running' }] : [],
});
const syncLine = () => {
  const lines = emf.lines.filter((e) => e.operation === 'syncDevice');
  assert.equal(lines.length, 1, 'one metric document for the one sync');
  return lines[0]!;
};

test('a sync publishes its DynamoDB calls and units and its bytes; each sync only its own', async () => {
  const token = await fx.register('cost-1');
  emf.lines.length = 0;
  const body = { report: report('cost-1', 1, 'full') };
  const first = await fx.device({ method: 'POST', path: '/v1/devices/cost-1/sync', token, body });
  assert.equal(first.status, 200, first.raw);
  const a = syncLine();
  // The stored state and its sign of life, the pending jobs and the target (and the token, unless cached).
  assert.ok(a.sync_dynamodb_calls >= 5, `calls ${a.sync_dynamodb_calls}`);
  assert.ok(a.sync_dynamodb_read_units > 0, 'read units collected');
  assert.ok(a.sync_dynamodb_write_units >= 1, 'the new state was written');
  assert.equal(a.sync_request_bytes, Buffer.byteLength(JSON.stringify(body)));
  assert.equal(a.sync_response_bytes, Buffer.byteLength(first.raw ?? ''));

  emf.lines.length = 0;
  const heartbeat = await fx.device({
    method: 'POST',
    path: '/v1/devices/cost-1/sync',
    token,
    body: { report: report('cost-1', 2, 'delta') },
  });
  assert.equal(heartbeat.status, 200, heartbeat.raw);
  const b = syncLine();
  // Nothing changed: no state write, so fewer calls than the first sync (which wrote the state too).
  assert.ok(
    b.sync_dynamodb_calls >= 4 && b.sync_dynamodb_calls < a.sync_dynamodb_calls,
    `calls ${b.sync_dynamodb_calls} after ${a.sync_dynamodb_calls}`,
  );
  assert.ok(b.sync_dynamodb_read_units > 0);
  const dims = JSON.stringify(b._aws.CloudWatchMetrics);
  assert.ok(!dims.includes('cost-1'), 'no device id in dimensions');
});

test("the previous protocol's routes publish no sync cost", async () => {
  const token = await fx.register('cost-2');
  emf.lines.length = 0;
  assert.equal(
    (await fx.device({ method: 'POST', path: '/v1/devices/cost-2/reports', token, body: report('cost-2', 1, 'full') }))
      .status,
    200,
  );
  assert.ok(emf.lines.length > 0);
  assert.ok(emf.lines.every((e) => !('sync_dynamodb_calls' in e)));
});
