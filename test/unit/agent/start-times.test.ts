import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StartTimes, engineStartedAt, type ObservedForStart } from '../../../agent/src/status/start-times.js';

function fakeEngine(times: Record<string, string>) {
  const calls: string[] = [];
  return {
    calls,
    times,
    source: {
      startedAt: async (id: string) => {
        calls.push(id);
        return times[id];
      },
    },
  };
}

/** Starts the due reads and waits for them; returns how many there were. */
async function settle(st: StartTimes, cs: ObservedForStart[], restarts: () => number, now: number): Promise<number> {
  const reads = st.refresh(cs, restarts, now);
  await Promise.all(reads);
  return reads.length;
}

test('start times are read once per running container and served from the cache after', async () => {
  const e = fakeEngine({ a: '2026-12-01T10:00:00.000Z', b: '2026-12-01T11:00:00.000Z' });
  const st = new StartTimes(e.source, 600_000);
  const cs: ObservedForStart[] = [
    { id: 'a', service: 'web', state: 'running' },
    { id: 'b', service: 'db', state: 'running' },
    { id: 'c', service: 'job', state: 'exited' },
  ];
  assert.equal(await settle(st, cs, () => 0, 0), 2, 'exited containers are not inspected');
  assert.equal(st.get('a'), '2026-12-01T10:00:00.000Z');
  assert.equal(st.get('c'), undefined);
  assert.equal(await settle(st, cs, () => 0, 1000), 0, 'nothing changed: no engine call');
  assert.deepEqual(e.calls.sort(), ['a', 'b']);
});

test('a read never holds up the caller, and a container is read at most once at a time', async () => {
  let release!: (v: string) => void;
  let calls = 0;
  const st = new StartTimes({
    startedAt: () => {
      calls++;
      return new Promise<string>((r) => {
        release = r;
      });
    },
  });
  const running: ObservedForStart[] = [{ id: 'a', service: 'web', state: 'running' }];
  const reads = st.refresh(running, () => 0, 0); // returns at once: the engine has not answered
  assert.equal(st.get('a'), undefined, 'unknown while the read is in flight');
  assert.equal(st.refresh(running, () => 0, 10).length, 0, 'no second read while one is in flight');
  release('2026-12-01T10:00:00.000Z');
  await Promise.all(reads);
  assert.equal(st.get('a'), '2026-12-01T10:00:00.000Z');
  assert.equal(calls, 1);
});

test('a start time is read again after a restart by the agent, a stop, or the refresh period', async () => {
  const e = fakeEngine({ a: '2026-12-01T10:00:00.000Z' });
  const st = new StartTimes(e.source, 600_000);
  let restarts = 0;
  const running: ObservedForStart[] = [{ id: 'a', service: 'web', state: 'running' }];
  await settle(st, running, () => restarts, 0);

  restarts = 1; // the agent restarted web: same container, new start time
  e.times.a = '2026-12-01T10:05:00.000Z';
  const reads = st.refresh(running, () => restarts, 1000);
  assert.equal(st.get('a'), undefined, 'the old time is not reported while the new one is read');
  await Promise.all(reads);
  assert.equal(st.get('a'), '2026-12-01T10:05:00.000Z');

  await settle(st, [{ id: 'a', service: 'web', state: 'exited' }], () => restarts, 2000);
  assert.equal(st.get('a'), undefined, 'not running: no start time');
  e.times.a = '2026-12-01T10:06:00.000Z';
  assert.equal(await settle(st, running, () => restarts, 3000), 1, 'running again: read again');
  assert.equal(st.get('a'), '2026-12-01T10:06:00.000Z');

  e.times.a = '2026-12-01T10:20:00.000Z'; // the engine's restart policy restarted it unseen
  assert.equal(await settle(st, running, () => restarts, 3000 + 599_999), 0);
  assert.equal(await settle(st, running, () => restarts, 3000 + 600_000), 1, 'refreshed after the period');
  assert.equal(st.get('a'), '2026-12-01T10:20:00.000Z');

  await settle(st, [], () => restarts, 700_000);
  assert.equal(st.get('a'), undefined, 'gone containers leave the cache');
});

test('an engine that cannot be asked leaves the start time unknown and is asked again next cycle', async () => {
  const st = new StartTimes({ startedAt: async () => Promise.reject(new Error('engine down')) });
  const running: ObservedForStart[] = [{ id: 'a', service: 'web', state: 'running' }];
  assert.equal(await settle(st, running, () => 0, 0), 1);
  assert.equal(st.get('a'), undefined);
  assert.equal(await settle(st, running, () => 0, 1000), 1, 'asked again next cycle');
});

test("the engine's zero time means never started", () => {
  assert.equal(engineStartedAt('0001-01-01T00:00:00Z'), undefined);
  assert.equal(engineStartedAt(undefined), undefined);
  assert.equal(engineStartedAt('garbage'), undefined);
  assert.equal(engineStartedAt('2026-12-01T10:00:00.123456789Z'), '2026-12-01T10:00:00.123Z');
});
