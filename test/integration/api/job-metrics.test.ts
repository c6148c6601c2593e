/**
 * HighJobFailureRate divides jobs_fail by jobs_processed_total: every outcome must reach the denominator,
 * device-reported successes and operator cancels included, or one failure reads as a 100 % failure rate.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApiFixture, type ApiFixture } from '../../support/api-fixture.js';
import { captureEmf } from '../../support/emf.js';

// EMF lines are captured (not printed) so the test can read the metrics the handlers emit.
const emf = captureEmf();

let fx: ApiFixture;
let markDispatched: typeof import('../../../functions/adapters/jobs-repo.js').markDispatched;
before(async () => {
  fx = await createApiFixture({ POWERTOOLS_METRICS_DISABLED: 'false' });
  ({ markDispatched } = await import('../../../functions/adapters/jobs-repo.js'));
});
after(async () => {
  emf.restore();
  await fx.close();
});

test('device SUCCEEDED and REJECTED, and operator CANCELED, count in jobs_processed_total; only REJECTED in jobs_fail', async () => {
  const token = await fx.register('dev-metrics');
  const enqueue = async () => {
    const res = await fx.operator({
      method: 'POST',
      path: '/v1/devices/dev-metrics/jobs',
      body: { type: 'restart-service', params: { service: 'web' } },
    });
    assert.equal(res.status, 202);
    await markDispatched(res.body.jobId);
    return res.body.jobId as string;
  };
  const put = (jobId: string, body: unknown) =>
    fx.device({ method: 'PUT', path: `/v1/devices/dev-metrics/jobs/${jobId}`, token, body });

  emf.lines.length = 0;
  const ok = await enqueue();
  assert.equal((await put(ok, { status: 'IN_PROGRESS', expectedVersion: 1 })).status, 200);
  assert.equal(emf.total('jobs_processed_total'), 0, 'IN_PROGRESS is not an outcome');
  assert.equal((await put(ok, { status: 'SUCCEEDED', expectedVersion: 2 })).status, 200);
  assert.equal(emf.total('jobs_processed_total'), 1);
  assert.equal(emf.total('jobs_fail'), 0);
  assert.ok(emf.total('job_duration_seconds') >= 0 && emf.lines.some((e) => 'job_duration_seconds' in e));

  const rejected = await enqueue();
  assert.equal((await put(rejected, { status: 'REJECTED', expectedVersion: 1 })).status, 200);
  assert.equal(emf.total('jobs_processed_total'), 2);
  assert.equal(emf.total('jobs_fail'), 1);

  const canceled = await enqueue();
  assert.equal((await fx.operator({ method: 'POST', path: `/v1/jobs/${canceled}/cancel` })).status, 200);
  assert.equal(emf.total('jobs_processed_total'), 3);
  assert.equal(emf.total('jobs_fail'), 1);
  for (const e of emf.lines)
    assert.ok(
      !JSON.stringify((e._aws as { CloudWatchMetrics: unknown }).CloudWatchMetrics).includes('dev-metrics'),
      'no device id in dimensions',
    );
});
