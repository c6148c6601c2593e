import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ServiceReport, type ServiceReport as ServiceReportT } from '../../../functions/contract/index.js';
import {
  DEFAULT_HEALTH_POLICY,
  decideRecoveryAttempt,
  dependencyOrder,
  deviceFindings,
  isOffline,
  planRecovery,
  recoveredServices,
  serviceFinding,
  silencingMarker,
  type Finding,
  type PlanStep,
} from '../../../functions/domain/health-policy.js';

const T0 = Date.parse('2025-01-01T10:00:00Z');
const MIN = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

function svc(name: string, over: Record<string, unknown> = {}): ServiceReportT {
  return ServiceReport.parse({ name, image: `lab/${name}:1`, status: 'running', ...over });
}
const err = (type: string, over: Record<string, unknown> = {}) => ({
  type,
  message: `${type} happened`,
  timestamp: iso(T0 - MIN),
  retryCount: 1,
  nextRetry: iso(T0 + 10_000),
  ...over,
});

describe('offline detection', () => {
  test('a device is offline once its last report is older than offlineAfter', () => {
    const p = { offlineAfterMs: 90_000 };
    assert.equal(isOffline(T0 - 89_000, T0, p), false);
    assert.equal(isOffline(T0 - 91_000, T0, p), true);
    assert.equal(isOffline(undefined, T0, p), true);
  });
});

describe('service findings', () => {
  test('healthy, starting and manually stopped services give none', () => {
    assert.equal(serviceFinding(svc('a'), T0), undefined);
    assert.equal(serviceFinding(svc('a', { status: 'manually-stopped', recentRestarts: 9 }), T0), undefined);
    assert.equal(
      serviceFinding(svc('a', { status: 'error', error: err('ImagePullBackOff') }), T0),
      undefined,
      'a young back-off is the agent’s job',
    );
  });
  test('crash loop: restarts within the window or CrashLoopBackOff → restart-service', () => {
    const f = serviceFinding(svc('a', { status: 'restarting', recentRestarts: 3 }), T0)!;
    assert.equal(f.kind, 'crash-loop');
    assert.equal(f.alertName, 'ServiceCrashLoop');
    assert.deepEqual(f.recovery?.type, 'restart-service');
    assert.equal(serviceFinding(svc('a', { status: 'error', error: err('CrashLoopBackOff') }), T0)?.kind, 'crash-loop');
  });
  test('stuck in ImagePullBackOff past the threshold (time or retries) → retry-now', () => {
    const byTime = serviceFinding(
      svc('a', { status: 'error', error: err('ImagePullBackOff', { timestamp: iso(T0 - 11 * MIN) }) }),
      T0,
    )!;
    assert.equal(byTime.kind, 'stuck-backoff');
    assert.equal(byTime.alertName, 'ServiceImagePullBackOff');
    assert.equal(byTime.recovery?.type, 'retry-now');
    assert.equal(
      serviceFinding(svc('a', { status: 'error', error: err('ErrImagePull', { retryCount: 5 }) }), T0)?.kind,
      'stuck-backoff',
    );
  });
  test('the agent gave up (quarantined / no next retry / RecoveryFailed)', () => {
    for (const e of [
      err('StartFailure', { quarantined: true }),
      err('StartFailure', { nextRetry: null }),
      err('RecoveryFailed'),
    ]) {
      const f = serviceFinding(svc('a', { status: 'error', error: e }), T0)!;
      assert.equal(f.kind, 'gave-up');
      assert.equal(f.alertName, 'RecoveryFailed');
    }
  });
  test('permanent errors have no automatic recovery', () => {
    const f = serviceFinding(
      svc('a', { status: 'error', error: err('ImagePullBackOff', { permanent: true, attempted: ['pull', 'pull'] }) }),
      T0,
    )!;
    assert.equal(f.kind, 'permanent-error');
    assert.equal(f.alertName, 'ServiceImagePullBackOff');
    assert.equal(f.recovery, undefined);
    assert.ok(f.agentTried.includes('agent: pull'));
    assert.equal(serviceFinding(svc('a', { status: 'error', error: err('DiskFull') }), T0)?.kind, 'permanent-error');
  });
  test('a running service failing its health check 3 times is unhealthy', () => {
    const hc = (n: number) => ({ healthy: false, kind: 'http', checkedAt: iso(T0), consecutiveFailures: n });
    assert.equal(serviceFinding(svc('a', { lastHealthCheck: hc(2) }), T0), undefined);
    assert.equal(serviceFinding(svc('a', { lastHealthCheck: hc(3) }), T0)?.kind, 'unhealthy');
  });
  test('recovered services are found by comparing two states', () => {
    const before = [
      svc('a', { status: 'restarting', recentRestarts: 4 }),
      svc('b', { status: 'restarting', recentRestarts: 4 }),
    ];
    const after = [svc('a'), svc('b', { status: 'restarting', recentRestarts: 5 })];
    assert.deepEqual(recoveredServices(before, after, T0), [{ service: 'a', alertName: 'ServiceCrashLoop' }]);
  });
});

describe('recovery rate limit (MAX_FAILURES=3 per FAILURE_WINDOW=300 s)', () => {
  test('three attempts are allowed in five minutes, the fourth is not', () => {
    let w = { attempts: [] as number[] };
    for (let i = 0; i < 3; i++) {
      const d = decideRecoveryAttempt(w, T0 + i * MIN);
      assert.equal(d.allowed, true);
      w = { attempts: d.attempts };
    }
    const denied = decideRecoveryAttempt(w, T0 + 3 * MIN);
    assert.equal(denied.allowed, false);
    assert.ok(!denied.allowed && denied.reason === 'rate-limited' && denied.retryAfterMs === 2 * MIN);
  });
  test('while the last recovery job is unfinished nothing new happens: no second job, no escalation yet', () => {
    const busy = decideRecoveryAttempt({ attempts: [T0], inFlightJobId: 'job_1' }, T0 + MIN);
    assert.ok(!busy.allowed && busy.reason === 'in-flight');
    const third = decideRecoveryAttempt({ attempts: [T0, T0 + 1, T0 + 2], inFlightJobId: 'job_3' }, T0 + MIN);
    assert.ok(!third.allowed && third.reason === 'in-flight');
    assert.ok(!decideRecoveryAttempt({ attempts: [T0, T0 + 1, T0 + 2] }, T0 + MIN).allowed);
  });
  test('attempts older than the window stop counting', () => {
    const d = decideRecoveryAttempt({ attempts: [T0, T0 + MIN, T0 + 2 * MIN] }, T0 + 5 * MIN + 1);
    assert.ok(d.allowed);
    assert.deepEqual(d.attempts, [T0 + MIN, T0 + 2 * MIN, T0 + 5 * MIN + 1]);
  });
});

describe('recovery plan', () => {
  const crash = (name: string): Finding => serviceFinding(svc(name, { status: 'restarting', recentRestarts: 5 }), T0)!;
  const base = { deviceId: 'dev-1', markers: [], circuit: { state: 'closed' as const }, dependsOn: {}, now: T0 };
  const kinds = (steps: PlanStep[]) => steps.map((s) => `${s.finding.service}:${s.kind}`);

  test('a failing service is recovered; past the limit the escalation names the attempts', () => {
    const steps = planRecovery({ ...base, findings: [crash('a')] });
    assert.deepEqual(kinds(steps), ['a:recover']);
    const s = steps[0]!;
    assert.ok(s.kind === 'recover');
    const alert = s.escalation([T0 - 3 * MIN, T0 - 2 * MIN, T0 - MIN]);
    assert.equal(alert.alertName, 'ServiceCrashLoop');
    assert.equal(alert.level, 2);
    assert.match(alert.summary, /3 cloud recovery attempts in 5m/);
    assert.equal(alert.tried!.filter((t) => t.startsWith('cloud:')).length, 3);
  });
  test('markers silence a service, or the whole device; expired markers do not', () => {
    const marker = (service?: string, expiresAt = iso(T0 + MIN)) => ({
      kind: 'manual-stop' as const,
      service,
      expiresAt,
    });
    assert.deepEqual(kinds(planRecovery({ ...base, findings: [crash('a'), crash('b')], markers: [marker('a')] })), [
      'a:silenced',
      'b:recover',
    ]);
    assert.deepEqual(kinds(planRecovery({ ...base, findings: [crash('a'), crash('b')], markers: [marker()] })), [
      'a:silenced',
      'b:silenced',
    ]);
    assert.deepEqual(kinds(planRecovery({ ...base, findings: [crash('a')], markers: [marker('a', iso(T0 - 1))] })), [
      'a:recover',
    ]);
    assert.equal(silencingMarker([marker('x')], 'a', T0), undefined);
  });
  test('dependencies first: a dependent waits while its dependency is failing', () => {
    const dependsOn = { app: ['db'], db: ['disk'], web: ['app'] };
    const steps = planRecovery({ ...base, findings: [crash('web'), crash('app'), crash('db')], dependsOn });
    assert.deepEqual(kinds(steps), ['db:recover', 'app:wait-for-dependency', 'web:wait-for-dependency']);
    assert.deepEqual(dependencyOrder(['web', 'app', 'db', 'zz'], dependsOn), ['db', 'app', 'web', 'zz']);
  });
  test('an open circuit holds recovery', () => {
    assert.deepEqual(kinds(planRecovery({ ...base, circuit: { state: 'open' }, findings: [crash('a')] })), [
      'a:held-by-circuit',
    ]);
    assert.deepEqual(kinds(planRecovery({ ...base, circuit: { state: 'half-open' }, findings: [crash('a')] })), [
      'a:held-by-circuit',
    ]);
  });
  test('a permanent error alerts at once; after an hour it is an engineering escalation', () => {
    const perm = serviceFinding(
      svc('a', { status: 'error', error: err('InvalidSpec', { timestamp: iso(T0 - 5 * MIN) }) }),
      T0,
    )!;
    const [s] = planRecovery({ ...base, findings: [perm] });
    assert.ok(s!.kind === 'alert' && s!.alert.level === 2 && s!.alert.alertName === 'RecoveryFailed');
    const [late] = planRecovery({ ...base, findings: [perm], now: T0 + DEFAULT_HEALTH_POLICY.engineeringAfterMs });
    assert.ok(late!.kind === 'alert' && late!.alert.level === 3);
  });
  test('deviceFindings sorts by service and skips healthy ones', () => {
    const fs = deviceFindings(
      [
        svc('z', { status: 'restarting', recentRestarts: 3 }),
        svc('m'),
        svc('b', { status: 'restarting', recentRestarts: 9 }),
      ],
      T0,
    );
    assert.deepEqual(
      fs.map((f) => f.service),
      ['b', 'z'],
    );
  });
});
