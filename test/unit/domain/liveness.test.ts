/** Liveness settings: derived from each other, contradictions refused with the keys named, the interval policy. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  activeUntil,
  assertLiveness,
  DEFAULT_LIVENESS,
  defaultOfflineAfterSeconds,
  detectionBoundSeconds,
  livenessProblems,
  nextSyncSeconds,
  SYNC_JITTER,
} from '../../../functions/domain/liveness.js';
import { config } from '../../../functions/lib/config.js';

test('defaults: 60 s idle sync, 90 s cutoff, detection within 150 s, short interval 2 s for 60 s', () => {
  assert.deepEqual(DEFAULT_LIVENESS, {
    heartbeatSeconds: 60,
    offlineAfterSeconds: 90,
    activeSyncSeconds: 2,
    activeWindowSeconds: 60,
  });
  assert.equal(detectionBoundSeconds(DEFAULT_LIVENESS), 150);
  assert.deepEqual(livenessProblems(DEFAULT_LIVENESS), []);
});

test('for every heartbeat, the default cutoff leaves room for the longest on-time gap', () => {
  for (let h = 1; h <= 3600; h++) {
    const s = {
      ...DEFAULT_LIVENESS,
      heartbeatSeconds: h,
      offlineAfterSeconds: defaultOfflineAfterSeconds(h),
      activeSyncSeconds: 1,
    };
    assert.deepEqual(livenessProblems(s), [], `heartbeat ${h}`);
    assert.ok(
      h * (1 + SYNC_JITTER) < s.offlineAfterSeconds,
      `heartbeat ${h}: worst on-time gap ${h * 1.1} s < ${s.offlineAfterSeconds} s`,
    );
  }
});

test('contradictions are refused, naming the keys', () => {
  assert.throws(
    () => assertLiveness({ ...DEFAULT_LIVENESS, offlineAfterSeconds: 60 }),
    /OFFLINE_AFTER_SECONDS=60 is shorter than 1.5 × HEARTBEAT_SECONDS=60/,
  );
  assert.throws(
    () => assertLiveness({ ...DEFAULT_LIVENESS, activeSyncSeconds: 90 }),
    /ACTIVE_SYNC_SECONDS=90 is longer than HEARTBEAT_SECONDS=60/,
  );
  assert.throws(
    () => assertLiveness({ ...DEFAULT_LIVENESS, heartbeatSeconds: 0 }),
    /HEARTBEAT_SECONDS=0 must be a positive/,
  );
});

test('a contradictory environment fails the configuration read (the Lambda cold start) with the keys named', () => {
  const saved = { h: process.env.HEARTBEAT_SECONDS, o: process.env.OFFLINE_AFTER_SECONDS };
  try {
    process.env.HEARTBEAT_SECONDS = '30';
    process.env.OFFLINE_AFTER_SECONDS = '40';
    assert.throws(() => config.liveness, /OFFLINE_AFTER_SECONDS=40 is shorter than 1.5 × HEARTBEAT_SECONDS=30/);
    delete process.env.OFFLINE_AFTER_SECONDS;
    assert.equal(config.liveness.offlineAfterSeconds, 45, 'the default cutoff follows the heartbeat');
  } finally {
    for (const [k, v] of [
      ['HEARTBEAT_SECONDS', saved.h],
      ['OFFLINE_AFTER_SECONDS', saved.o],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test('next sync: short while jobs are pending or the window is open, the idle heartbeat otherwise', () => {
  const now = 1_000_000;
  assert.equal(nextSyncSeconds({ pendingJobs: 0, now }, DEFAULT_LIVENESS), 60);
  assert.equal(nextSyncSeconds({ pendingJobs: 1, now }, DEFAULT_LIVENESS), 2);
  assert.equal(
    nextSyncSeconds(
      { pendingJobs: 0, activeUntilEpoch: activeUntil(now, DEFAULT_LIVENESS), now: now + 59_000 },
      DEFAULT_LIVENESS,
    ),
    2,
  );
  assert.equal(
    nextSyncSeconds(
      { pendingJobs: 0, activeUntilEpoch: activeUntil(now, DEFAULT_LIVENESS), now: now + 60_000 },
      DEFAULT_LIVENESS,
    ),
    60,
    'the window is bounded',
  );
});

test('a clean push disconnect followed by silence is detected sooner: 30 s + one evaluator period, never later than silence alone', async () => {
  const { disconnectDetectionBoundSeconds, disconnectGraceSeconds, disconnectedCutoff, EVALUATOR_PERIOD_SECONDS } =
    await import('../../../functions/domain/liveness.js');
  assert.equal(disconnectDetectionBoundSeconds(DEFAULT_LIVENESS), 90);
  assert.ok(disconnectDetectionBoundSeconds(DEFAULT_LIVENESS) < detectionBoundSeconds(DEFAULT_LIVENESS));
  for (let h = 1; h <= 3600; h += 7) {
    const s = { offlineAfterSeconds: defaultOfflineAfterSeconds(h) };
    assert.ok(
      disconnectDetectionBoundSeconds(s) <= detectionBoundSeconds(s),
      `heartbeat ${h}: a goodbye never slows detection`,
    );
    assert.equal(disconnectDetectionBoundSeconds(s), disconnectGraceSeconds(s) + EVALUATOR_PERIOD_SECONDS);
  }
  assert.equal(disconnectedCutoff(100_000, DEFAULT_LIVENESS), 70_000);
});
