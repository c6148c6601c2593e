import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ScheduledEvent } from 'aws-lambda';
import { scheduledEvent, startScheduler, type ScheduleRun } from '../../../local/scheduler.js';

test('scheduled events have the EventBridge shape', () => {
  const e = scheduledEvent('health-evaluator', Date.parse('2024-05-01T10:20:30.456Z'));
  assert.equal(e['detail-type'], 'Scheduled Event');
  assert.equal(e.source, 'aws.events');
  assert.equal(e.time, '2024-05-01T10:20:30Z');
  assert.match(e.resources[0]!, /^arn:aws:events:[a-z0-9-]+:\d{12}:rule\/health-evaluator$/);
  assert.deepEqual(e.detail, {});
  assert.match(e.id, /^[0-9a-f-]{36}$/);
});

test('jobs run on their interval, a slow run is never overlapped, and stop waits for it', async () => {
  let active = 0;
  let maxActive = 0;
  const events: ScheduledEvent[] = [];
  let fastRuns = 0;
  const runs: ScheduleRun[] = [];
  const scheduler = startScheduler(
    [
      {
        name: 'slow',
        everyMs: 40,
        handler: async (event: ScheduledEvent) => {
          events.push(event);
          active++;
          maxActive = Math.max(maxActive, active);
          await new Promise((r) => setTimeout(r, 150));
          active--;
          return { evaluated: 1 };
        },
      },
      { name: 'fast', everyMs: 30, handler: async () => void fastRuns++ },
      {
        name: 'broken',
        everyMs: 50,
        handler: async () => {
          throw new Error('nope');
        },
      },
    ],
    { onRun: (r) => runs.push(r), runAtStart: true },
  );
  await new Promise((r) => setTimeout(r, 500));
  await scheduler.stop();
  assert.equal(active, 0, 'stop waited for the running job');
  assert.equal(maxActive, 1, 'runs of the same job never overlapped');
  const slow = scheduler.stats('slow');
  assert.ok(slow.runs >= 2, `slow ran ${slow.runs} times`);
  assert.ok(slow.skippedOverlaps >= 2, `skipped ${slow.skippedOverlaps} overlapping ticks`);
  assert.ok(fastRuns >= 8, `fast ran ${fastRuns} times`);
  const broken = scheduler.stats('broken');
  assert.equal(broken.failures, broken.runs);
  assert.equal(broken.lastRun?.error, 'nope');
  assert.ok(events.every((e) => e.resources[0]!.endsWith('rule/slow')));
  assert.deepEqual(runs.find((r) => r.name === 'slow')?.result, { evaluated: 1 });
  const after = fastRuns;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(fastRuns, after, 'nothing runs after stop');
});

test('runNow waits for a run in progress instead of overlapping it', async () => {
  let active = 0;
  let maxActive = 0;
  const scheduler = startScheduler([
    {
      name: 'job',
      everyMs: 60_000,
      handler: async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 50));
        active--;
      },
    },
  ]);
  const results = await Promise.all([scheduler.runNow('job'), scheduler.runNow('job'), scheduler.runNow('job')]);
  await scheduler.stop();
  assert.equal(maxActive, 1);
  assert.ok(results.every((r) => r.ok));
  assert.equal(scheduler.stats('job').runs, 3);
});
