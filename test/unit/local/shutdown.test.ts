import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signalHandler, startPeriodicSave } from '../../../local/shutdown.js';

function harness() {
  let clock = 0;
  let finishSave!: (code: number) => void;
  const saves: string[] = [];
  const exits: number[] = [];
  const lines: string[] = [];
  const onSignal = signalHandler({
    shutdown: (signal) => {
      saves.push(signal);
      return new Promise<number>((r) => (finishSave = r));
    },
    out: (s) => lines.push(s),
    exit: (code) => void exits.push(code),
    forceAfterMs: 3000,
    now: () => clock,
  });
  return {
    onSignal,
    saves,
    exits,
    lines,
    advance: (ms: number) => (clock += ms),
    finish: (code: number) => finishSave(code),
  };
}

test('one Ctrl-C that reaches the process twice (the whole process group gets it) still saves', async () => {
  const h = harness();
  h.onSignal('SIGINT');
  h.onSignal('SIGINT'); // the same press, through npm/tsx
  h.advance(2999);
  h.onSignal('SIGINT'); // an impatient press before the visible delay
  assert.deepEqual(h.saves, ['SIGINT'], 'one shutdown, one save');
  assert.deepEqual(h.exits, [], 'not forced');
  assert.match(h.lines[0]!, /again after 3 s to force/);
  h.finish(0);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(h.exits, [0], 'exits once the save is done');
});

test('a second press after the visible delay forces an exit', () => {
  const h = harness();
  h.onSignal('SIGINT');
  h.advance(3000);
  h.onSignal('SIGINT');
  assert.deepEqual(h.exits, [130]);
  assert.match(h.lines.at(-1)!, /Forced exit: state not saved/);
});

test('the periodic save runs, never twice at once, and stop waits for the one in progress', async () => {
  let inFlight = 0;
  let maxInFlight = 0;
  let saves = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const periodic = startPeriodicSave(
    async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      saves++;
      await gate;
      inFlight--;
    },
    5,
    () => assert.fail('no error expected'),
  );
  while (saves === 0) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 30)); // several ticks while the first save is still running
  let stopped = false;
  const stopping = periodic.stop().then(() => (stopped = true));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(stopped, false, 'stop waits for the save in progress');
  release();
  await stopping;
  assert.equal(maxInFlight, 1);
  assert.equal(saves, 1);
});
