/** Error history: only a change of an error's presence or type is a change; retries of the same error are not. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServiceReport } from '../../../functions/contract/report.js';
import { errorChanges } from '../../../functions/domain/error-history.js';

const NOW = '2026-01-01T00:10:00.000Z';
const svc = (name: string, error?: { type: string; message: string; retryCount?: number; timestamp?: string }) =>
  ServiceReport.parse({
    name,
    image: `lab/${name}:1`,
    status: error ? 'error' : 'running',
    error: error
      ? {
          type: error.type,
          message: error.message,
          timestamp: error.timestamp ?? '2026-01-01T00:00:00.000Z',
          retryCount: error.retryCount ?? 1,
          nextRetry: null,
        }
      : null,
  });
const map = (...s: ServiceReport[]) => Object.fromEntries(s.map((x) => [x.name, x]));

test('a new error is raised, with the time the device saw it begin', () => {
  assert.deepEqual(
    errorChanges(undefined, map(svc('web', { type: 'ImagePullBackOff', message: 'manifest unknown' })), NOW),
    [
      {
        service: 'web',
        change: 'raised',
        type: 'ImagePullBackOff',
        message: 'manifest unknown',
        since: '2026-01-01T00:00:00.000Z',
      },
    ],
  );
});

test('the same error retried (count, message) is no change; a new type is', () => {
  const before = map(svc('web', { type: 'ImagePullBackOff', message: 'a', retryCount: 1 }));
  assert.deepEqual(
    errorChanges(before, map(svc('web', { type: 'ImagePullBackOff', message: 'b', retryCount: 4 })), NOW),
    [],
  );
  const changed = errorChanges(
    before,
    map(svc('web', { type: 'CrashLoopBackOff', message: 'exit 1', timestamp: '2026-01-01T00:05:00.000Z' })),
    NOW,
  );
  assert.deepEqual(changed, [
    {
      service: 'web',
      change: 'changed',
      type: 'CrashLoopBackOff',
      previousType: 'ImagePullBackOff',
      message: 'exit 1',
      since: '2026-01-01T00:05:00.000Z',
    },
  ]);
});

test('a cleared error keeps when it began and says when it cleared; a removed service in error clears too', () => {
  const before = map(
    svc('db', { type: 'StartFailure', message: 'port busy' }),
    svc('web', { type: 'DiskFull', message: 'full' }),
  );
  assert.deepEqual(errorChanges(before, map(svc('web')), NOW), [
    {
      service: 'db',
      change: 'cleared',
      type: 'StartFailure',
      message: 'port busy',
      since: '2026-01-01T00:00:00.000Z',
      clearedAt: NOW,
      removed: true,
    },
    {
      service: 'web',
      change: 'cleared',
      type: 'DiskFull',
      message: 'full',
      since: '2026-01-01T00:00:00.000Z',
      clearedAt: NOW,
    },
  ]);
  assert.deepEqual(errorChanges(map(svc('web')), map(svc('web')), NOW), []);
});
