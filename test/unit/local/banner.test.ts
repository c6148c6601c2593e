import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bannerLines, type BannerInput } from '../../../local/banner.js';

const input = (withAgent: boolean): BannerInput => ({
  fleet: { apiUrl: 'http://127.0.0.1:4280', operatorToken: 'tok', slack: undefined, missing: [], push: undefined },
  endpoint: 'http://127.0.0.1:5555',
  restored: '',
  demoTargetFile: '/tmp/state/demo-target.json',
  stateDir: '/tmp/state',
  scheduleSeconds: 60,
  fresh: false,
  withAgent,
});

test('npm start suggests --with-agent only when it is not already on', () => {
  const without = bannerLines(input(false)).join('\n');
  assert.match(without, /npm start -- --with-agent/);
  const withAgent = bannerLines(input(true)).join('\n');
  assert.doesNotMatch(
    withAgent,
    /npm start -- --with-agent/,
    'running with the agent, the banner does not suggest the flag again',
  );
  assert.match(withAgent, /does steps 1-3 for device demo-1: watch it with npx fleetmedic device demo-1/);
});
