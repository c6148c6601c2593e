import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../../../agent/src/clock.js';
import { resolveCheckAddress } from '../../../agent/src/health/address.js';
import { commandLines, matchesProcess } from '../../../agent/src/health/exec-probes.js';
import { HealthScheduler, type Timers } from '../../../agent/src/health/scheduler.js';
import { newTrack, recordOutcome } from '../../../agent/src/health/tracker.js';
import { HealthCheckSpec } from '../../../functions/contract/target-state.js';

/** Timers driven by the fake clock; counts how many were ever armed. */
class FakeTimers implements Timers {
  armed = 0;
  private pending: Array<{ at: number; fn: () => void; id: number }> = [];
  private nextId = 1;
  constructor(private readonly clock: FakeClock) {}
  setTimeout(fn: () => void, ms: number) {
    this.armed++;
    const t = { at: this.clock.monoNow() + ms, fn, id: this.nextId++ };
    this.pending.push(t);
    return t.id;
  }
  clearTimeout(id: unknown) {
    this.pending = this.pending.filter((t) => t.id !== id);
  }
  get live() {
    return this.pending.length;
  }
  /** Moves time in 1 ms-resolution steps to each due timer, letting the async checks settle in between. */
  async advance(ms: number) {
    const end = this.clock.monoNow() + ms;
    for (;;) {
      await settle();
      const due = this.pending.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.clock.advance(Math.max(0, due.at - this.clock.monoNow()));
      this.pending = this.pending.filter((t) => t !== due);
      due.fn();
    }
    this.clock.advance(end - this.clock.monoNow());
    await settle();
  }
}
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

const spec = (over: Record<string, unknown> = {}) =>
  HealthCheckSpec.parse({
    kind: 'tcp',
    port: 80,
    intervalSeconds: 2,
    timeoutSeconds: 1,
    failureThreshold: 3,
    startupDelaySeconds: 1,
    ...over,
  });

function harness(outcomes: (id: string) => boolean) {
  const clock = new FakeClock();
  const timers = new FakeTimers(clock);
  const calls: Array<{ id: string; at: number }> = [];
  const results: Array<{ name: string; healthy: boolean; cf: number; verdict: string }> = [];
  const sched = new HealthScheduler({
    clock,
    timers,
    runCheck: async (id) => {
      calls.push({ id, at: clock.monoNow() });
      return { healthy: outcomes(id), durationMs: 1 };
    },
    onResult: (name, r, track) =>
      results.push({ name, healthy: r.healthy, cf: r.consecutiveFailures, verdict: track.verdict }),
  });
  return { clock, timers, calls, results, sched };
}

describe('health scheduler', () => {
  test('first check after the startup delay, then every interval; one timer for all services', async () => {
    const h = harness(() => true);
    const t0 = h.clock.monoNow();
    for (let i = 0; i < 10; i++) h.sched.upsert(`svc${i}`, `c${i}`, spec({ intervalSeconds: 2 + (i % 3) }), t0);
    assert.equal(h.timers.live, 1, 'a single timer is armed, however many services');
    await h.timers.advance(999);
    assert.equal(h.calls.length, 0, 'nothing during the startup delay');
    await h.timers.advance(1);
    assert.equal(h.calls.length, 10, 'all due checks ran at the end of the startup delay');
    await h.timers.advance(60_000);
    // every service checked ~every interval over the minute: 2 s → ~30 times, 3 s → ~20, 4 s → ~15
    const per = (i: number) => h.calls.filter((c) => c.id === `c${i}`).length;
    assert.ok(per(0) >= 29 && per(0) <= 31, `2 s interval ran ${per(0)} times`);
    assert.ok(per(1) >= 19 && per(1) <= 21, `3 s interval ran ${per(1)} times`);
    assert.ok(per(2) >= 14 && per(2) <= 16, `4 s interval ran ${per(2)} times`);
    assert.ok(h.timers.live <= 1, 'never more than one timer');
    h.sched.stop();
    assert.equal(h.timers.live, 0);
  });

  test('consecutive failures reach the threshold: failing, failing, unhealthy; one pass resets', async () => {
    let ok = false;
    const h = harness(() => ok);
    h.sched.upsert('web', 'c1', spec());
    await h.timers.advance(1000 + 2000 * 2);
    assert.deepEqual(
      h.results.map((r) => [r.cf, r.verdict]),
      [
        [1, 'failing'],
        [2, 'failing'],
        [3, 'unhealthy'],
      ],
    );
    ok = true;
    await h.timers.advance(2000);
    assert.deepEqual(h.results.at(-1), { name: 'web', healthy: true, cf: 0, verdict: 'healthy' });
  });

  test('a restart resets the track and the re-check runs right after the startup delay', async () => {
    const h = harness(() => false);
    h.sched.upsert('web', 'c1', spec({ startupDelaySeconds: 3, intervalSeconds: 30 }));
    await h.timers.advance(3000);
    assert.equal(h.sched.track('web')!.consecutiveFailures, 1);
    await h.timers.advance(5000);
    const restartAt = h.clock.monoNow();
    h.sched.restarted('web');
    assert.equal(h.sched.track('web')!.verdict, 'pending');
    await h.timers.advance(2999);
    assert.equal(h.calls.length, 1);
    await h.timers.advance(1);
    assert.equal(h.calls.length, 2);
    assert.equal(h.calls[1]!.at, restartAt + 3000);
    assert.equal(h.sched.track('web')!.consecutiveFailures, 1, 'counting starts over after a restart');
  });

  test('no more than `concurrency` checks in flight; the rest run as slots free up', async () => {
    const clock = new FakeClock();
    const timers = new FakeTimers(clock);
    let inFlight = 0;
    let max = 0;
    let done = 0;
    const sched = new HealthScheduler({
      clock,
      timers,
      concurrency: 3,
      runCheck: async () => {
        max = Math.max(max, ++inFlight);
        await new Promise((r) => setImmediate(r));
        inFlight--;
        done++;
        return { healthy: true, durationMs: 1 };
      },
    });
    for (let i = 0; i < 10; i++) sched.upsert(`s${i}`, `c${i}`, spec({ startupDelaySeconds: 0 }));
    await timers.advance(0);
    for (let i = 0; i < 10 && done < 10; i++) await settle();
    assert.equal(done, 10);
    assert.equal(max, 3);
    sched.stop();
  });

  test('a check that straddles a restart is not counted', async () => {
    const clock = new FakeClock();
    const timers = new FakeTimers(clock);
    let release!: (v: { healthy: boolean; durationMs: number }) => void;
    const sched = new HealthScheduler({ clock, timers, runCheck: () => new Promise((r) => (release = r)) });
    sched.upsert('web', 'c1', spec({ startupDelaySeconds: 0 }));
    await timers.advance(0);
    sched.restarted('web');
    release({ healthy: false, durationMs: 1 });
    await settle();
    assert.equal(sched.track('web')!.verdict, 'pending');
    assert.equal(sched.track('web')!.consecutiveFailures, 0);
    sched.stop();
  });

  test('checkNow runs out of schedule and resolves with the result', async () => {
    const h = harness(() => true);
    h.sched.upsert('web', 'c1', spec({ startupDelaySeconds: 100 }));
    const r = await h.sched.checkNow('web');
    assert.equal(r?.healthy, true);
    assert.equal(r?.kind, 'tcp');
    assert.equal(await h.sched.checkNow('nope'), null);
    h.sched.stop();
  });

  test('upsert with the same container and spec keeps history; a new container starts over', async () => {
    const h = harness(() => false);
    h.sched.upsert('web', 'c1', spec({ startupDelaySeconds: 0 }));
    await h.timers.advance(0);
    assert.equal(h.sched.track('web')!.consecutiveFailures, 1);
    h.sched.upsert('web', 'c1', spec({ startupDelaySeconds: 0 }));
    assert.equal(h.sched.track('web')!.consecutiveFailures, 1);
    h.sched.upsert('web', 'c2', spec({ startupDelaySeconds: 0 }));
    assert.equal(h.sched.track('web')!.consecutiveFailures, 0);
    h.sched.retain([]);
    assert.equal(h.sched.has('web'), false);
    assert.equal(h.timers.live, 0);
  });
});

describe('health tracker', () => {
  test('a container found not running is unhealthy at once, below the threshold', () => {
    const t = newTrack(spec({ failureThreshold: 5 }), 0);
    const r = recordOutcome(
      t,
      { healthy: false, durationMs: 3, notRunning: true, message: 'container is not running' },
      10,
      '2030-01-01T00:00:00.000Z',
    );
    assert.equal(t.verdict, 'unhealthy');
    assert.deepEqual(r, {
      healthy: false,
      kind: 'tcp',
      checkedAt: '2030-01-01T00:00:00.000Z',
      durationMs: 3,
      consecutiveFailures: 1,
      message: 'container is not running',
    });
  });
});

describe('check addressing', () => {
  test('published port first (works on every engine), then the container IP on its network', () => {
    assert.deepEqual(
      resolveCheckAddress(
        {
          NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '18080' }] }, IPAddress: '10.88.0.5' },
        },
        80,
      ),
      {
        host: '127.0.0.1',
        port: 18080,
        via: 'published-port',
      },
    );
    assert.deepEqual(
      resolveCheckAddress({ NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '192.168.1.4', HostPort: '81' }] } } }, 80)
        ?.host,
      '192.168.1.4',
    );
    // Podman (container-lab): unpublished port, IP under Networks.podman
    assert.deepEqual(
      resolveCheckAddress(
        { NetworkSettings: { Ports: {}, IPAddress: '', Networks: { podman: { IPAddress: '10.88.0.2' } } } },
        8080,
      ),
      {
        host: '10.88.0.2',
        port: 8080,
        via: 'container-ip',
      },
    );
    assert.equal(resolveCheckAddress({ NetworkSettings: { IPAddress: '172.17.0.3' } }, 80)?.host, '172.17.0.3');
    assert.deepEqual(resolveCheckAddress({ HostConfig: { NetworkMode: 'host' } }, 9000), {
      host: '127.0.0.1',
      port: 9000,
      via: 'host-network',
    });
    assert.equal(resolveCheckAddress({ NetworkSettings: { Networks: { none: { IPAddress: '' } } } }, 80), null);
  });
});

describe('process matching', () => {
  test('Docker splits columns (CMD last), Podman may not; pgrep -f semantics', () => {
    const docker = commandLines({
      Titles: ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'],
      Processes: [['root', '1', '0', '0', '10:00', '?', '00:00:00', 'httpd -f -p 8080']],
    });
    assert.deepEqual(docker, ['httpd -f -p 8080']);
    const podman = commandLines({
      Titles: ['PID   USER     COMMAND'],
      Processes: [['1 0        httpd -f -p 8080 -h /tmp']],
    });
    assert.ok(matchesProcess(podman, 'httpd'));
    assert.ok(!matchesProcess(podman, 'nginx'));
  });
});
