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

test('the banner shows the Slack channels and where the pager route goes', () => {
  const b = input(false);
  const lines = bannerLines({
    ...b,
    fleet: {
      ...b.fleet,
      slack: {} as NonNullable<BannerInput['fleet']['slack']>,
      slackChannels: [
        { envVar: 'SLACK_WEBHOOK_CRITICAL_SECRET_ID', channel: 'critical' },
        { envVar: 'SLACK_WEBHOOK_WARNING_SECRET_ID', channel: 'warning' },
      ],
      pager: {
        queueUrl: 'http://127.0.0.1:5555/000000000000/fleetmedic-local-pager',
        url: 'http://127.0.0.1:4281/services/local/fleetmedic/pager',
      },
    },
  }).join('\n');
  assert.match(lines, /channels: #critical, #warning \(levels 3 and 2, resolutions too\), #alerts \(the rest\)/);
  assert.match(
    lines,
    /Pager {11}level 3 alerts \(filter of ALERT_ROUTES.pager\) → queue fleetmedic-local-pager → http:\/\/127.0.0.1:4281\/services\/local\/fleetmedic\/pager/,
  );
  assert.doesNotMatch(bannerLines(b).join('\n'), /Pager|channels:/, 'a real webhook: no local channels, no pager');
});
