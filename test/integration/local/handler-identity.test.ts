/**
 * The local fleet runs every handler in one process. Each must still log and publish metrics as itself (its own
 * `service`, as in the cloud where each is its own process), one handler's metrics flush must not take another's
 * (which left the other with "No application metrics to publish"), and every scheduled run publishes its
 * heartbeat.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { lambdaContext } from '../../../local/lambda-context.js';
import { createTestInfra, type TestInfra } from '../../support/infra.js';

let infra: TestInfra;
before(async () => {
  infra = await createTestInfra({
    POWERTOOLS_SERVICE_NAME: 'fleetmedic',
    POWERTOOLS_METRICS_DISABLED: 'false',
    POWERTOOLS_LOG_LEVEL: 'INFO',
  });
});
after(() => infra.close());

/**
 * The JSON lines (logs, EMF) written to stdout and stderr while `run` runs, kept and not printed, plus every
 * other line (passed through: the test runner reports through stdout) for the warnings checks.
 */
async function captureOutput(run: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const streams = [process.stdout, process.stderr];
  const real = streams.map((s) => s.write.bind(s));
  streams.forEach((s, i) => {
    s.write = ((chunk: unknown, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : '';
      if (text) lines.push(...text.split('\n').filter(Boolean));
      if (text.startsWith('{')) return true;
      return (real[i] as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof s.write;
  });
  try {
    await run();
  } finally {
    streams.forEach((s, i) => {
      s.write = real[i] as typeof s.write;
    });
  }
  return lines;
}

const asJson = (lines: string[]) =>
  lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>);

const SCHEDULED = ['health-evaluator', 'job-timeout-sweeper', 'outbox-publisher', 'rollout-controller'] as const;
/** A metric only that function emits. */
const OWN_METRIC: Record<(typeof SCHEDULED)[number], string> = {
  'health-evaluator': 'devices_offline',
  'job-timeout-sweeper': 'jobs_timed_out_total',
  'outbox-publisher': 'outbox_unpublished_count',
  'rollout-controller': 'rollouts_advanced',
};

test('scheduled handlers running side by side each log and count as themselves, with a heartbeat per run', async () => {
  const handlers = await Promise.all(
    SCHEDULED.map(async (name) => ({
      name,
      handler: (await import(`../../../functions/handlers/${name}.ts`)).handler,
    })),
  );
  const rounds = 3;
  const lines = await captureOutput(async () => {
    for (let round = 0; round < rounds; round++) {
      // All three at once, as the local scheduler fires them on the same tick.
      await Promise.all(
        handlers.map(({ name, handler }) => handler({ source: 'aws.events' }, lambdaContext(name, 60_000))),
      );
    }
  });

  assert.ok(
    !lines.some((l) => l.includes('No application metrics to publish')),
    `no empty-flush warning:\n${lines.filter((l) => l.includes('No application')).join('\n')}`,
  );
  assert.ok(!lines.some((l) => l.includes('reserved key')), 'no reserved-key warning');
  const json = asJson(lines);
  const emf = json.filter((d) => d._aws);
  for (const name of SCHEDULED) {
    const own = emf.filter((d) => d.service === name);
    const heartbeats = own.reduce(
      (n, d) => n + (typeof d.scheduled_runs_completed === 'number' ? d.scheduled_runs_completed : 0),
      0,
    );
    assert.equal(heartbeats, rounds, `${name}: one scheduled_runs_completed per run`);
    assert.equal(
      own.filter((d) => OWN_METRIC[name] in d).length,
      rounds,
      `${name}: its own metrics, once per run, under its own name`,
    );
    for (const other of SCHEDULED.filter((n) => n !== name)) {
      assert.ok(!own.some((d) => OWN_METRIC[other] in d), `${name} never publishes ${other}'s ${OWN_METRIC[other]}`);
    }
  }
  // Log lines (from the handlers' middlewares and code) name the function both as service and function_name.
  for (const d of json.filter((x) => !x._aws && x.function_name))
    assert.equal(d.service, d.function_name, JSON.stringify(d));
});

test('code outside any handler (CLI, scripts) logs under POWERTOOLS_SERVICE_NAME', async () => {
  const { logger } = await import('../../../functions/lib/observability.js');
  const lines = await captureOutput(async () => logger.warn('outside a handler'));
  const line = asJson(lines).find((d) => d.message === 'outside a handler');
  assert.equal(line?.service, 'fleetmedic');
});

test('two handlers interleaving in one process: each log line names its own function', async () => {
  const { forFunction, logger } = await import('../../../functions/lib/observability.js');
  const tick = () => new Promise((r) => setImmediate(r));
  const body = (label: string) => async () => {
    for (let i = 0; i < 3; i++) {
      await tick();
      logger.warn('step', { label, i });
    }
  };
  const lines = await captureOutput(async () => {
    await Promise.all([
      forFunction('health-evaluator', body('evaluator'))(undefined, undefined),
      forFunction('job-timeout-sweeper', body('sweeper'))(undefined, undefined),
    ]);
  });
  const steps = asJson(lines).filter((d) => d.message === 'step');
  assert.equal(steps.length, 6);
  for (const d of steps)
    assert.equal(d.service, d.label === 'evaluator' ? 'health-evaluator' : 'job-timeout-sweeper', JSON.stringify(d));
});

test("a health finding logs the device's service as deviceService, not Powertools' reserved `service`", async () => {
  const { forFunction } = await import('../../../functions/lib/observability.js');
  const { evaluateDevice } = await import('../../../functions/services/device-health.js');
  const now = Date.now();
  const failing = {
    name: 'web',
    image: 'lab/web:1',
    status: 'error',
    restartCount: 0,
    recentRestarts: 0,
    lastHealthCheck: null,
    error: {
      type: 'RecoveryFailed',
      message: 'gave up',
      timestamp: new Date(now - 60_000).toISOString(),
      retryCount: 1,
      nextRetry: null,
      permanent: false,
      quarantined: true,
      attempted: [],
    },
  };
  const lines = await captureOutput(async () => {
    await forFunction('device-api', async () =>
      evaluateDevice('identity-1', { services: { web: failing } } as never, { now }),
    )(undefined, undefined);
  });
  assert.ok(!lines.some((l) => l.includes('reserved key')), lines.filter((l) => l.includes('reserved')).join('\n'));
  const finding = asJson(lines).find((d) => d.message === 'health finding');
  assert.ok(finding, `a health finding was logged:\n${lines.join('\n')}`);
  assert.equal(finding.service, 'device-api', 'logged as the function it ran in');
  assert.equal(finding.deviceService, 'web');
});
