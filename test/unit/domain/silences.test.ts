/** Silence matchers (Alertmanager semantics: anchored regexes, an absent label is the empty string). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Matcher, matcherProblem, type Silence, silencing } from '../../../functions/domain/alerting/silences.js';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const silence = (matchers: Matcher[], over: Partial<Silence> = {}): Silence => ({
  silenceId: 'sil_1',
  matchers,
  startsAt: T0,
  endsAt: T0 + 3600_000,
  comment: 'c',
  createdBy: 'op',
  createdAt: T0,
  ...over,
});

test('every matcher must match; regexes are anchored; an absent label is the empty string', () => {
  const s = silence([
    { name: 'deviceId', op: '=~', value: 'kiosk-.*' },
    { name: 'alertName', op: '!=', value: 'DeviceOffline' },
  ]);
  const at = T0 + 1;
  assert.ok(silencing([s], { alertName: 'CircuitOpen', deviceId: 'kiosk-7' }, at));
  assert.equal(silencing([s], { alertName: 'DeviceOffline', deviceId: 'kiosk-7' }, at), undefined);
  assert.equal(silencing([s], { alertName: 'CircuitOpen', deviceId: 'my-kiosk-7' }, at), undefined, 'anchored');
  assert.equal(silencing([s], { alertName: 'CircuitOpen' }, at), undefined, 'no device: empty string');
  const deviceWide = silence([
    { name: 'deviceId', op: '=', value: 'd1' },
    { name: 'service', op: '=', value: '' },
  ]);
  assert.ok(silencing([deviceWide], { alertName: 'CircuitOpen', deviceId: 'd1' }, at));
  assert.equal(
    silencing([deviceWide], { alertName: 'ServiceCrashLoop', deviceId: 'd1', service: 'web' }, at),
    undefined,
  );
  const notRegex = silence([
    { name: 'deviceId', op: '=', value: 'd1' },
    { name: 'service', op: '!~', value: 'web|db' },
  ]);
  assert.equal(silencing([notRegex], { alertName: 'ServiceCrashLoop', deviceId: 'd1', service: 'web' }, at), undefined);
  assert.ok(silencing([notRegex], { alertName: 'ServiceCrashLoop', deviceId: 'd1', service: 'ads' }, at));
});

test('a silence holds from startsAt until endsAt (end excluded)', () => {
  const s = silence([{ name: 'deviceId', op: '=', value: 'd1' }]);
  const labels = { alertName: 'CircuitOpen' as const, deviceId: 'd1' };
  assert.equal(silencing([s], labels, T0 - 1), undefined, 'pending');
  assert.ok(silencing([s], labels, T0));
  assert.equal(silencing([s], labels, s.endsAt), undefined, 'ended');
});

test('a silence must name what it silences, and its regexes must compile', () => {
  assert.equal(matcherProblem([{ name: 'deviceId', op: '=', value: 'd1' }]), undefined);
  assert.match(matcherProblem([{ name: 'deviceId', op: '=~', value: '.*' }])!, /empty value/);
  assert.match(matcherProblem([{ name: 'alertName', op: '!=', value: 'X' }])!, /empty value/);
  assert.match(matcherProblem([{ name: 'service', op: '=~', value: '(' }])!, /not a valid regex/);
});
