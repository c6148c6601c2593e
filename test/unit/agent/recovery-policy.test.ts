import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HealthVerdict } from '../../../agent/src/health/verdict.js';
import { RecoveryPolicy, dependencyOrder, type ServiceObservation } from '../../../agent/src/recovery/policy.js';

const S = 1000;

/** A tiny fake world: per-service verdicts we set by hand, a fake monotonic clock. */
function world(specs: Record<string, { dependsOn?: string[]; startupDelayMs?: number }>) {
  let now = 1_000_000;
  const health = new Map<string, { v: HealthVerdict; at: number }>();
  const stopped = new Set<string>();
  for (const name of Object.keys(specs)) health.set(name, { v: 'healthy', at: now });
  const obs = (): ServiceObservation[] =>
    Object.entries(specs).map(([name, spec]) => ({
      name,
      dependsOn: spec.dependsOn ?? [],
      health: health.get(name)!.v,
      healthAt: health.get(name)!.at,
      manualStop: stopped.has(name),
      startupDelayMs: spec.startupDelayMs ?? 5 * S,
    }));
  return {
    get now() {
      return now;
    },
    advance(ms: number) {
      now += ms;
    },
    set(name: string, v: HealthVerdict) {
      health.set(name, { v, at: now });
    },
    stop: (name: string) => stopped.add(name),
    unstop: (name: string) => stopped.delete(name),
    obs,
  };
}

describe('recovery policy', () => {
  test('a failing service is restarted, re-checked after the startup delay, and recovers', () => {
    const w = world({ web: {} });
    const p = new RecoveryPolicy();
    w.set('web', 'unhealthy');
    const d1 = p.decide(w.obs(), w.now);
    assert.deepEqual(
      d1.actions.map((a) => [a.service, a.action, a.rung]),
      [['web', 'restart', 1]],
    );
    assert.equal(p.view('web', w.now).error?.type, 'HealthCheckFailed');

    // The stale unhealthy verdict (from before the restart) must not count as the re-check.
    w.advance(2 * S);
    assert.deepEqual(p.decide(w.obs(), w.now).actions, []);
    // A check before the startup delay is over does not count either.
    w.set('web', 'failing');
    assert.deepEqual(p.decide(w.obs(), w.now).actions, []);

    w.advance(3 * S);
    w.set('web', 'healthy');
    const d2 = p.decide(w.obs(), w.now);
    assert.deepEqual(d2.actions, []);
    assert.deepEqual(d2.events, [{ type: 'recovered', service: 'web', attempted: ['restart'] }]);
    const v = p.view('web', w.now);
    assert.equal(v.error, null);
    assert.equal(v.restartCount, 1);
    assert.equal(v.recentRestarts, 1);
  });

  test('escalation ladder: restart, then recreate, then re-pull when each did not help', () => {
    const w = world({ web: { startupDelayMs: 1 * S } });
    const p = new RecoveryPolicy();
    const seen: string[] = [];
    w.set('web', 'unhealthy');
    for (let i = 0; i < 3; i++) {
      const d = p.decide(w.obs(), w.now);
      seen.push(...d.actions.map((a) => `${a.action}:${a.rung}`));
      w.advance(1 * S);
      w.set('web', 'failing'); // the re-check after the startup delay still fails (below threshold counts too)
    }
    assert.deepEqual(seen, ['restart:1', 'recreate:2', 'repull:3']);
  });

  test('rate limit: at most 3 actions in 5 minutes, then CrashLoopBackOff with what was tried', () => {
    const w = world({ app: { startupDelayMs: 1 * S } });
    const p = new RecoveryPolicy();
    w.set('app', 'unhealthy');
    const actions: string[] = [];
    const events: string[] = [];
    for (let i = 0; i < 10; i++) {
      const d = p.decide(w.obs(), w.now);
      actions.push(...d.actions.map((a) => a.action));
      events.push(...d.events.map((e) => e.type));
      w.advance(2 * S);
      w.set('app', 'unhealthy');
    }
    assert.deepEqual(actions, ['restart', 'recreate', 'repull']);
    assert.deepEqual(events, ['crash-loop'], 'the crash loop is announced once, not every round');
    const v = p.view('app', w.now);
    assert.equal(v.phase, 'crash-loop');
    assert.equal(v.error?.type, 'CrashLoopBackOff');
    assert.deepEqual(v.error?.attempted, ['restart', 'recreate', 'repull']);
    assert.match(v.error!.message, /attempted: restart, recreate, repull/);
    assert.equal(v.recentRestarts, 3);
    assert.equal(v.error?.nextRetryAt, 1_000_000 + 300 * S, 'next retry when the first action leaves the window');
  });

  test('after the window has room again, a slower round starts from a plain restart', () => {
    const w = world({ app: { startupDelayMs: 1 * S } });
    const p = new RecoveryPolicy();
    const start = w.now;
    w.set('app', 'unhealthy');
    for (let i = 0; i < 4; i++) {
      p.decide(w.obs(), w.now);
      w.advance(2 * S);
      w.set('app', 'unhealthy');
    }
    assert.equal(p.view('app', w.now).phase, 'crash-loop');
    w.advance(start + 300 * S - w.now - 1); // one ms before the first action leaves the window
    w.set('app', 'unhealthy');
    assert.deepEqual(p.decide(w.obs(), w.now).actions, []);
    w.advance(1);
    w.set('app', 'unhealthy');
    assert.deepEqual(
      p.decide(w.obs(), w.now).actions.map((a) => a.action),
      ['restart'],
    );
    assert.equal(p.view('app', w.now).recentRestarts, 3);
    assert.equal(p.view('app', w.now).restartCount, 4);
  });

  test('configurable limit (maxRestarts/window)', () => {
    const w = world({ app: { startupDelayMs: 0 } });
    const p = new RecoveryPolicy({ maxRestarts: 1, windowMs: 10 * S });
    w.set('app', 'unhealthy');
    assert.equal(p.decide(w.obs(), w.now).actions.length, 1);
    w.advance(1);
    w.set('app', 'unhealthy');
    assert.equal(p.decide(w.obs(), w.now).actions.length, 0);
    assert.equal(p.view('app', w.now).phase, 'crash-loop');
  });

  test('a service that recovers resets the ladder; a later incident starts with a restart again', () => {
    const w = world({ web: { startupDelayMs: 1 * S } });
    const p = new RecoveryPolicy();
    w.set('web', 'unhealthy');
    p.decide(w.obs(), w.now);
    w.advance(1 * S);
    w.set('web', 'failing');
    assert.equal(p.decide(w.obs(), w.now).actions[0]?.action, 'recreate');
    w.advance(1 * S);
    w.set('web', 'healthy');
    p.decide(w.obs(), w.now);
    w.advance(60 * S);
    w.set('web', 'unhealthy');
    assert.equal(p.decide(w.obs(), w.now).actions[0]?.action, 'restart');
  });

  test('failing below the threshold is not acted on', () => {
    const w = world({ web: {} });
    const p = new RecoveryPolicy();
    w.set('web', 'failing');
    assert.deepEqual(p.decide(w.obs(), w.now), { actions: [], events: [] });
    w.set('web', 'pending');
    assert.deepEqual(p.decide(w.obs(), w.now), { actions: [], events: [] });
  });

  test('manual-stop marker: no recovery at all, and a clean slate once removed', () => {
    const w = world({ web: {} });
    const p = new RecoveryPolicy();
    w.stop('web');
    w.set('web', 'unhealthy');
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(p.decide(w.obs(), w.now).actions, []);
      w.advance(10 * S);
    }
    assert.equal(p.view('web', w.now).phase, 'manually-stopped');
    assert.equal(p.view('web', w.now).error, null);
    w.unstop('web');
    w.set('web', 'unhealthy');
    assert.deepEqual(
      p.decide(w.obs(), w.now).actions.map((a) => a.action),
      ['restart'],
    );
  });

  test('dependencies are recovered first; the dependent waits until its dependency is healthy', () => {
    const w = world({ app: { dependsOn: ['db'], startupDelayMs: 1 * S }, db: { startupDelayMs: 1 * S } });
    const p = new RecoveryPolicy();
    w.set('db', 'unhealthy');
    w.set('app', 'unhealthy');
    const d1 = p.decide(w.obs(), w.now);
    assert.deepEqual(
      d1.actions.map((a) => a.service),
      ['db'],
      'only the dependency is acted on',
    );
    assert.deepEqual(d1.events, [{ type: 'waiting-dependency', service: 'app', dependency: 'db' }]);
    assert.match(p.view('app', w.now).error!.message, /waiting for dependency db/);

    w.advance(1 * S);
    w.set('db', 'pending'); // restarted, re-check not in yet
    assert.deepEqual(
      p.decide(w.obs(), w.now).actions,
      [],
      'the dependent is not started while its dependency is not healthy',
    );

    w.set('db', 'healthy');
    const d2 = p.decide(w.obs(), w.now);
    assert.deepEqual(
      d2.events.map((e) => e.type),
      ['recovered'],
    );
    assert.deepEqual(
      d2.actions.map((a) => [a.service, a.action]),
      [['app', 'restart']],
      'then the dependent, in the same round',
    );
    assert.equal(p.view('app', w.now).recentRestarts, 1);
  });

  test('a healthy dependent is restarted after its dependency was restarted and is healthy again', () => {
    const w = world({
      api: { dependsOn: ['cache'] },
      cache: { startupDelayMs: 1 * S },
      worker: { dependsOn: ['api'] },
    });
    const p = new RecoveryPolicy();
    w.set('cache', 'unhealthy');
    assert.deepEqual(
      p.decide(w.obs(), w.now).actions.map((a) => a.service),
      ['cache'],
    );
    w.advance(1 * S);
    w.set('cache', 'healthy');
    const d = p.decide(w.obs(), w.now);
    assert.deepEqual(
      d.actions.map((a) => [a.service, a.reason]),
      [['api', 'dependency cache was restarted']],
    );
    // Dependency-induced restarts do not eat the dependent's own rate limit.
    assert.equal(p.view('api', w.now).recentRestarts, 0);
    assert.equal(p.view('api', w.now).restartCount, 1);
    // ...and the chain continues: once api is verified healthy, its own dependent restarts.
    w.advance(5 * S);
    w.set('api', 'healthy');
    assert.deepEqual(
      p.decide(w.obs(), w.now).actions.map((a) => a.service),
      ['worker'],
    );
  });

  test('dependency order is topological and deterministic', () => {
    const order = dependencyOrder([
      { name: 'web', dependsOn: ['api'] },
      { name: 'api', dependsOn: ['db', 'cache'] },
      { name: 'cache', dependsOn: [] },
      { name: 'db', dependsOn: ['ghost'] },
    ]);
    assert.deepEqual(order, ['db', 'cache', 'api', 'web']);
  });

  test('an action the engine could not perform is recorded and the next verdict escalates', () => {
    const w = world({ web: { startupDelayMs: 5 * S } });
    const p = new RecoveryPolicy();
    w.set('web', 'unhealthy');
    p.decide(w.obs(), w.now);
    w.advance(10);
    p.actionFailed('web', w.now, 'no such container');
    w.set('web', 'unhealthy');
    assert.equal(p.decide(w.obs(), w.now).actions[0]?.action, 'recreate');
    assert.deepEqual(p.view('web', w.now).error?.attempted, ['restart', 'failed: no such container', 'recreate']);
  });

  test('the rate-limit history and a CrashLoopBackOff survive an agent restart (as ages, not monotonic times)', () => {
    const w = world({ app: { startupDelayMs: 1 * S } });
    const p = new RecoveryPolicy();
    w.set('app', 'unhealthy');
    for (let i = 0; i < 4; i++) {
      p.decide(w.obs(), w.now);
      w.advance(2 * S);
      w.set('app', 'unhealthy');
    }
    assert.equal(p.view('app', w.now).phase, 'crash-loop');
    const saved = JSON.parse(JSON.stringify(p.persistable(w.now)));
    // A new process: a different monotonic origin, 30 s of wall time later.
    const q = new RecoveryPolicy();
    const now2 = 5_000;
    q.restorePersisted(saved, now2, 30 * S);
    const v = q.view('app', now2);
    assert.equal(v.phase, 'crash-loop', 'no fresh set of restarts because the agent restarted');
    assert.equal(v.recentRestarts, 3);
    assert.equal(v.restartCount, 3);
    assert.deepEqual(v.error?.attempted, ['restart', 'recreate', 'repull']);
    assert.equal(v.error?.nextRetryAt, now2 + 300 * S - 8 * S - 30 * S, 'the window still ends when it would have');
    // Saved long ago: the window is over, only the totals remain.
    const r = new RecoveryPolicy();
    r.restorePersisted(saved, now2, 600 * S);
    assert.equal(r.view('app', now2).phase, 'idle');
    assert.equal(r.view('app', now2).recentRestarts, 0);
    assert.equal(r.view('app', now2).restartCount, 3);
  });

  test('state round-trips through a snapshot', () => {
    const w = world({ web: {} });
    const p = new RecoveryPolicy();
    w.set('web', 'unhealthy');
    p.decide(w.obs(), w.now);
    const q = new RecoveryPolicy();
    q.restore(JSON.parse(JSON.stringify(p.snapshot())));
    assert.deepEqual(q.view('web', w.now), p.view('web', w.now));
  });
});

describe('recovery counters', () => {
  test('each action counts once, by its outcome at the re-check; a restarted agent keeps the one in flight', () => {
    const w = world({ web: {} });
    const p = new RecoveryPolicy({ maxRestarts: 10, windowMs: 300 * S });
    const recheck = (v: HealthVerdict) => {
      w.advance(6 * S);
      w.set('web', v);
      return p.decide(w.obs(), w.now);
    };
    w.set('web', 'unhealthy');
    assert.equal(p.decide(w.obs(), w.now).actions[0]?.action, 'restart');
    assert.equal(recheck('unhealthy').actions[0]?.action, 'recreate'); // restart failed
    // The agent restarts while the recreate is being verified: the outcome still lands on `recreate`.
    const saved = p.persistable(w.now);
    const q = new RecoveryPolicy({ maxRestarts: 10, windowMs: 300 * S });
    q.counters = structuredClone(p.counters);
    q.restorePersisted(saved, w.now, 0);
    w.advance(6 * S);
    w.set('web', 'healthy');
    q.decide(w.obs(), w.now);
    assert.deepEqual(q.counters.counts, {
      restart: { succeeded: 0, failed: 1 },
      recreate: { succeeded: 1, failed: 0 },
      repull: { succeeded: 0, failed: 0 },
    });
    // A healthy service that stays healthy counts nothing more.
    w.advance(60 * S);
    q.decide(w.obs(), w.now);
    assert.equal(q.counters.counts.recreate.succeeded, 1);
  });
});
