import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LinkState } from '../../../agent/src/cloud/link-state.js';
import { ReportBuilder } from '../../../agent/src/cloud/report-builder.js';
import { ReportScheduler } from '../../../agent/src/cloud/report-scheduler.js';
import { Rollout, emptyRollout } from '../../../agent/src/cloud/rollout.js';
import { DeviceReport, type ServiceReport } from '../../../functions/contract/report.js';
import { TargetState } from '../../../functions/contract/target-state.js';

const S = 1000;

describe('report scheduler (fake clock)', () => {
  test('first report is full; deltas at most one per 10 s; heartbeat after 30 s of quiet', () => {
    const s = new ReportScheduler();
    let now = 0;
    const sent: Array<[number, string]> = [];
    const step = (online = true) => {
      const kind = s.due(now, online);
      if (kind) {
        s.produced(kind, now);
        sent.push([now / S, kind]);
      }
    };
    // A change every second for a minute: only one delta per 10 s window.
    for (; now <= 60 * S; now += S) {
      s.markChanged();
      step();
    }
    assert.deepEqual(sent, [
      [0, 'full'],
      [10, 'delta'],
      [20, 'delta'],
      [30, 'delta'],
      [40, 'delta'],
      [50, 'delta'],
      [60, 'delta'],
    ]);
    sent.length = 0;
    // Then quiet: heartbeats every 30 s.
    for (; now <= 150 * S; now += S) step();
    assert.deepEqual(sent, [
      [90, 'heartbeat'],
      [120, 'heartbeat'],
      [150, 'heartbeat'],
    ]);
  });

  test('no heartbeats while offline, but changes still make (buffered) deltas; a full after requestFull', () => {
    const s = new ReportScheduler();
    s.produced('full', 0);
    assert.equal(s.due(100 * S, false), null, 'offline and nothing changed: nothing to say');
    s.markChanged();
    assert.equal(s.due(100 * S, false), 'delta');
    s.produced('delta', 100 * S);
    s.requestFull();
    assert.equal(s.due(105 * S, true), null, 'the 10 s throttle holds for fulls too');
    assert.equal(s.due(110 * S, true), 'full');
  });

  test('a full report every fullEveryMs even when deltas flow', () => {
    const s = new ReportScheduler({ minIntervalMs: 10 * S, heartbeatMs: 30 * S, fullEveryMs: 60 * S });
    const kinds: string[] = [];
    for (let now = 0; now <= 120 * S; now += 10 * S) {
      s.markChanged();
      const k = s.due(now, true);
      if (k) {
        s.produced(k, now);
        kinds.push(k);
      }
    }
    assert.deepEqual(kinds.filter((k) => k === 'full').length, 3, kinds.join(','));
  });

  test('nextAt: the one timer is armed for the earliest due report', () => {
    const s = new ReportScheduler();
    s.produced('full', 0);
    assert.equal(s.nextAt(true), 30 * S);
    assert.equal(s.nextAt(false), 15 * 60 * S);
    s.markChanged();
    assert.equal(s.nextAt(true), 10 * S);
  });
});

describe('link state: offline probing and reconnect jitter (fake clock, fixed randomness)', () => {
  test('probes back off exponentially with jitter; a reconnect waits a random pause before sending', () => {
    let r = 0.5;
    const link = new LinkState({ probeBaseMs: 1000, probeMaxMs: 60_000, reconnectJitterMs: 20_000 }, () => r);
    assert.equal(link.canSend(0), true);
    const gaps: number[] = [];
    let now = 0;
    for (let i = 0; i < 8; i++) {
      link.failed(now);
      const next = link.nextAt();
      gaps.push(next - now);
      assert.equal(link.canProbe(next - 1), false);
      assert.equal(link.canProbe(next), true);
      now = next;
    }
    // half of min(60 s, 1 s · 2^n)
    assert.deepEqual(gaps, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    assert.equal(link.canSend(now), false);

    r = 0.25;
    assert.equal(link.succeeded(now), true, 'first success after offline is a reconnect');
    assert.equal(link.canSend(now), false, 'not at once: jitter');
    assert.equal(link.canSend(now + 4999), false);
    assert.equal(link.canSend(now + 5000), true, '0.25 · 20 s');
    assert.equal(link.succeeded(now + 6000), false, 'already online: not a reconnect');
    assert.equal(link.reconnects, 1);
  });

  test('different devices spread their reconnects over the jitter window', () => {
    const waits = [0.05, 0.3, 0.55, 0.8, 0.99].map((x) => {
      const link = new LinkState({ probeBaseMs: 1000, probeMaxMs: 60_000, reconnectJitterMs: 10_000 }, () => x);
      link.failed(0);
      link.succeeded(100);
      return link.nextAt() - 100;
    });
    assert.deepEqual(waits, [500, 3000, 5500, 8000, 9900]);
  });
});

const svc = (name: string, over: Partial<ServiceReport> = {}): ServiceReport => ({
  name,
  image: 'reg/app:1',
  status: 'running',
  restartCount: 0,
  recentRestarts: 0,
  error: null,
  lastHealthCheck: {
    healthy: true,
    kind: 'http',
    checkedAt: '2030-01-01T00:00:00.000Z',
    durationMs: 3,
    consecutiveFailures: 0,
    message: 'HTTP 200',
  },
  ...over,
});
const meta = { deviceId: 'dev-1', agentVersion: '0.1.0', uptimeSeconds: 5, sentAt: '2030-01-01T00:00:00.000Z' };

describe('report builder', () => {
  test('health-check timestamps and durations are not changes; status, errors and failures are', () => {
    const b = new ReportBuilder();
    b.build('full', [svc('a'), svc('b')], meta);
    assert.equal(
      b.hasChanges([
        svc('a', {
          lastHealthCheck: {
            healthy: true,
            kind: 'http',
            checkedAt: '2030-01-01T00:00:02.000Z',
            durationMs: 9,
            consecutiveFailures: 0,
          },
        }),
        svc('b'),
      ]),
      false,
    );
    const changed = [svc('a', { status: 'restarting', restartCount: 1 }), svc('b')];
    assert.equal(b.hasChanges(changed), true);
    const delta = b.build('delta', changed, meta);
    assert.deepEqual(
      delta.services.map((s) => s.name),
      ['a'],
    );
    assert.equal(b.hasChanges(changed), false);
    const removed = b.build('delta', [svc('a', { status: 'restarting', restartCount: 1 })], meta);
    assert.deepEqual(removed.removedServices, ['b']);
    assert.equal(DeviceReport.safeParse({ ...removed, seq: 3 }).success, true);
    // a heartbeat is an empty delta
    const hb = b.build('delta', [svc('a', { status: 'restarting', restartCount: 1 })], meta);
    assert.deepEqual([hb.services, hb.removedServices], [[], []]);
  });
});

describe('deployment rollout', () => {
  const target = (window = 60) =>
    TargetState.parse({ services: { web: { image: 'reg/web:1' } }, rollbackWindowSeconds: window });

  test('promoted once healthy within the window', () => {
    const r = new Rollout(emptyRollout(), 0);
    r.begin({ version: 'v1', target: target() }, 0);
    assert.deepEqual(r.evaluate(30 * S, false), { kind: 'pending', until: 60 * S });
    assert.deepEqual(r.evaluate(31 * S, true), { kind: 'promoted', version: 'v1' });
    assert.equal(r.doc.lastSuccessful?.version, 'v1');
    assert.deepEqual(r.evaluate(32 * S, false), { kind: 'idle' });
  });

  test('not healthy within the window: roll back to the last successful and remember the failed version', () => {
    const r = new Rollout(emptyRollout(), 0);
    r.begin({ version: 'v1', target: target() }, 0);
    r.evaluate(1, true);
    r.begin({ version: 'v2', target: target(30) }, 10 * S);
    assert.equal(r.evaluate(39 * S, false).kind, 'pending');
    const v = r.evaluate(40 * S, false);
    assert.equal(v.kind, 'rollback');
    assert.equal(v.kind === 'rollback' && v.to.version, 'v1');
    assert.equal(r.doc.rolledBackFrom, 'v2');
    assert.equal(r.doc.current, 'v1');
    assert.equal(r.incoming('v2'), 'rejected-before', 'the failed version served again is not re-applied');
    assert.equal(r.incoming('v1'), 'already-current');
    assert.equal(r.incoming('v3'), 'apply');
    r.begin({ version: 'v3', target: target() }, 50 * S);
    assert.equal(r.doc.rolledBackFrom, null, 'a new attempt clears rolledBackFrom');
  });

  test('first deployment has nothing to roll back to', () => {
    const r = new Rollout(emptyRollout(), 0);
    r.begin({ version: 'v1', target: target(10) }, 0);
    assert.deepEqual(r.evaluate(10 * S, false), { kind: 'failed-without-previous', version: 'v1' });
    assert.equal(r.doc.current, 'v1');
  });

  test('an attempt persisted before a restart is judged again with a fresh window', () => {
    const r = new Rollout(emptyRollout(), 0);
    r.begin({ version: 'v1', target: target() }, 0);
    const again = new Rollout(JSON.parse(JSON.stringify(r.doc)), 500 * S);
    assert.deepEqual(again.evaluate(501 * S, false), { kind: 'pending', until: 560 * S });
  });
});
