import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../agent/src/clock.js';
import { StatusBook } from '../../../agent/src/status/book.js';
import { errorFromBackoff } from '../../../agent/src/status/from-backoff.js';
import { RetryManager } from '../../../agent/src/backoff/manager.js';
import { buildMetrics, escapeLabel } from '../../../agent/src/output/metrics.js';
import { formatLine } from '../../../agent/src/log.js';
import { parseTarget } from '../../../agent/src/target/file-provider.js';
import { resolveConfig } from '../../../agent/src/cli.js';
import { ConfigError } from '../../../agent/src/config.js';
import { ServiceReport } from '../../../functions/contract/report.js';

test('backoff entry → contract ServiceError: ImagePullBackOff while waiting, ErrImagePull when due, null nextRetry in quarantine', () => {
  const clock = new FakeClock();
  const m = new RetryManager();
  const e = m.recordFailure(
    'image:x',
    { action: 'pullImage', services: ['web'], type: 'ErrImagePull', message: 'manifest unknown', permanent: true },
    clock.monoNow(),
    clock.wallNow(),
  );
  const err = errorFromBackoff(e, clock);
  assert.deepEqual(err, {
    type: 'ImagePullBackOff',
    message: 'manifest unknown',
    timestamp: '2030-01-01T00:00:00.000Z',
    retryCount: 1,
    nextRetry: '2030-01-01T00:00:10.000Z',
    permanent: true,
    quarantined: false,
    attempted: ['pull ×1'],
  });
  clock.advance(10_000);
  assert.equal(errorFromBackoff(e, clock).type, 'ErrImagePull');
  for (let i = 0; i < 4; i++)
    m.recordFailure(
      'image:x',
      { action: 'pullImage', services: ['web'], type: 'ErrImagePull', message: 'manifest unknown', permanent: true },
      clock.monoNow(),
      clock.wallNow(),
    );
  const q = errorFromBackoff(m.get('image:x')!, clock);
  assert.deepEqual([q.quarantined, q.nextRetry, q.retryCount], [true, null, 5]);
});

test('status book: contract-valid reports, status precedence, restart window, issues from health/recovery', () => {
  const clock = new FakeClock();
  const book = new StatusBook(clock, 300_000);
  const changed: string[] = [];
  book.subscribe((s) => changed.push(s));
  book.setView('web', {
    image: 'i:1',
    containerId: 'c1',
    containerState: 'running',
    manuallyStopped: false,
    error: null,
  });
  book.setView('db', { image: 'i:1', manuallyStopped: false, waitingFor: 'x', error: null });
  assert.deepEqual(
    book.reports().map((r) => [r.name, r.status]),
    [
      ['db', 'starting'],
      ['web', 'running'],
    ],
  );
  for (const r of book.reports()) ServiceReport.parse(r);

  book.recordRestart('web');
  clock.advance(200_000);
  book.recordRestart('web');
  assert.equal(book.report('web')!.recentRestarts, 2);
  clock.advance(150_000);
  assert.deepEqual(
    [book.report('web')!.restartCount, book.report('web')!.recentRestarts],
    [2, 1],
    'the first restart left the 5 min window',
  );

  const crash = {
    type: 'CrashLoopBackOff' as const,
    message: '3 restarts in 5 min',
    timestamp: '2030-01-01T00:00:00.000Z',
    retryCount: 3,
    nextRetry: null,
    permanent: false,
    quarantined: false,
    attempted: ['restart', 'recreate', 'repull'],
  };
  book.setIssue('web', 'recovery', crash);
  book.setIssue('web', 'health', { ...crash, type: 'HealthCheckFailed' });
  assert.equal(book.report('web')!.status, 'error');
  assert.equal(book.report('web')!.error!.type, 'CrashLoopBackOff', 'recovery outranks health');
  book.setView('web', {
    image: 'i:1',
    containerId: 'c1',
    containerState: 'running',
    manuallyStopped: true,
    error: null,
  });
  assert.deepEqual([book.report('web')!.status, book.report('web')!.error], ['manually-stopped', null]);
  assert.ok(changed.includes('web') && changed.includes('db'));
  book.retain(new Set(['web']));
  assert.deepEqual(book.names(), ['web']);
});

test('metrics textfile: families once, label escaping, state-set status', () => {
  const text = buildMetrics({
    success: false,
    lastRunEpochSeconds: 100,
    durationSeconds: 0.5,
    agentId: 'a"1',
    services: [
      ServiceReport.parse({
        name: 'web',
        image: 'i:1',
        status: 'error',
        restartCount: 2,
        error: {
          type: 'ImagePullBackOff',
          message: 'x',
          timestamp: '2030-01-01T00:00:00Z',
          retryCount: 3,
          nextRetry: null,
        },
      }),
    ],
  });
  assert.match(text, /^# HELP role_agent_last_run_success /m);
  assert.equal(text.match(/# TYPE role_agent_last_run_success gauge/g)!.length, 1);
  assert.match(text, /role_agent_last_run_success\{agent="a\\"1"\} 0/);
  assert.match(text, /role_agent_reconcile_duration_seconds\{agent="a\\"1"\} 0.5/);
  assert.match(text, /fleetmedic_service_status\{agent="a\\"1",service="web",status="error"\} 1/);
  assert.match(text, /fleetmedic_service_status\{agent="a\\"1",service="web",status="running"\} 0/);
  assert.match(text, /fleetmedic_service_restarts_total\{agent="a\\"1",service="web"\} 2/);
  assert.match(text, /fleetmedic_service_retry_count\{agent="a\\"1",service="web"\} 3/);
  assert.equal(escapeLabel('a\\b\n"c"'), 'a\\\\b\\n\\"c\\"');
});

test('readable log formatter', () => {
  const line = formatLine(
    JSON.stringify({
      level: 40,
      time: Date.parse('2030-01-01T10:11:12.345Z'),
      pid: 1,
      msg: 'pull failed',
      service: 'web',
      err: 'manifest unknown',
    }),
  );
  assert.equal(line, '10:11:12.345 WARN  pull failed  service=web err="manifest unknown"\n');
});

test('target file: TargetState or TargetStateDocument; invalid content is a configuration error', () => {
  assert.deepEqual(Object.keys(parseTarget('{"services":{"a":{"image":"i:1"}}}', 'f').target.services), ['a']);
  assert.equal(parseTarget('{"version":"v3","updatedAt":"x","target":{"services":{}}}', 'f').version, 'v3');
  assert.throws(() => parseTarget('{', 'f'), ConfigError);
  assert.throws(
    () => parseTarget('{"services":{"a":{"image":"i:1","dependsOn":["a"]}}}', 'f'),
    /cannot depend on itself/,
  );
});

test('config: flags over env over defaults; invalid values are configuration errors', () => {
  const c = resolveConfig(
    { stateDir: '/s', interval: '5' },
    { FLEETMEDIC_AGENT_ID: 'dev1', FLEETMEDIC_STATE_DIR: '/ignored' },
  );
  assert.deepEqual([c.stateDir, c.intervalMs, c.agentId, c.healthFile], ['/s', 5000, 'dev1', '/s/health.json']);
  assert.equal(resolveConfig({}, { FLEETMEDIC_STATE_DIR: '/e' }).stateDir, '/e');
  assert.throws(() => resolveConfig({ interval: '0' }, {}), ConfigError);
  assert.throws(() => resolveConfig({ agentId: 'Bad Id' }, {}), ConfigError);
  assert.throws(() => resolveConfig({ apiUrl: 'http://x' }, {}), /go together/);
});
