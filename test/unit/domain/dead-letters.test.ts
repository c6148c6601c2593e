import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DLQ_ATTR,
  UNRECORDED_REASON,
  failurePattern,
  groupDeadLetters,
  matchesFilter,
  nextSendAt,
  toDeadLetter,
} from '../../../functions/domain/dead-letters.js';

describe('dead letters', () => {
  test('patterns strip ids, numbers, times, quoted values and URLs', () => {
    assert.equal(failurePattern('job job_01HZZZZZZZZZZZZZZZZZZZ not found'), 'job <job> not found');
    assert.equal(
      failurePattern('unknown job type "reboot" at 2026-01-01T00:00:00.000Z after 5 receives'),
      'unknown job type <str> at <time> after <n> receives',
    );
    assert.equal(
      failurePattern('request 6f1c2b7e-1d2a-4c3b-9a8e-0123456789ab failed: https://sqs.local/q?x=1'),
      'request <uuid> failed: <url>',
    );
    assert.equal(failurePattern('  \n '), '<empty>');
    assert.ok(failurePattern('x'.repeat(500)).length <= 200);
  });

  test('two reasons that differ only in ids group together', () => {
    const a = toDeadLetter({
      messageId: 'm1',
      body: '{"jobId":"job_AAAAAAAAAAAAAAAA","deviceId":"dev-1"}',
      attributes: { [DLQ_ATTR.reason]: 'job job_AAAAAAAAAAAAAAAA not found', [DLQ_ATTR.receiveCount]: '5' },
    });
    const b = toDeadLetter({
      messageId: 'm2',
      body: '{"jobId":"job_BBBBBBBBBBBBBBBB"}',
      attributes: { [DLQ_ATTR.reason]: 'job job_BBBBBBBBBBBBBBBB not found', [DLQ_ATTR.receiveCount]: '5' },
    });
    const c = toDeadLetter({ messageId: 'm3', body: 'not json', attributes: {}, dlqReceiveCount: 2, sentTimestamp: 0 });
    assert.equal(a.jobId, 'job_AAAAAAAAAAAAAAAA');
    assert.equal(a.deviceId, 'dev-1');
    assert.equal(a.receiveCount, 5);
    assert.equal(c.reason, UNRECORDED_REASON);
    assert.equal(c.receiveCount, 2);
    assert.equal(c.firstFailedAt, '1970-01-01T00:00:00.000Z');
    assert.equal(c.jobId, undefined);
    const groups = groupDeadLetters([a, c, b]);
    assert.deepEqual(
      groups.map((g) => [g.pattern, g.count]),
      [
        ['job <job> not found', 2],
        [failurePattern(UNRECORDED_REASON), 1],
      ],
    );
    assert.equal(groups[0]!.sample.messageId, 'm1');
  });

  test('filters match pattern, reason, job id or device id, case-insensitively', () => {
    const l = toDeadLetter({
      messageId: 'm',
      body: '{"jobId":"job_AAAAAAAAAAAAAAAA","deviceId":"pump-7"}',
      attributes: { [DLQ_ATTR.reason]: 'Unknown job type "x"' },
    });
    assert.ok(matchesFilter(l, undefined));
    assert.ok(matchesFilter(l, 'unknown JOB'));
    assert.ok(matchesFilter(l, 'pump-7'));
    assert.ok(matchesFilter(l, 'job_aaaa'));
    assert.ok(!matchesFilter(l, 'not found'));
  });

  test('redrive pacing keeps the average rate from the start', () => {
    assert.equal(nextSendAt(1000, 0, 10), 1000);
    assert.equal(nextSendAt(1000, 1, 10), 1100);
    assert.equal(nextSendAt(1000, 25, 10), 3500);
    assert.equal(nextSendAt(1000, 3, 3), 2000);
  });
});
