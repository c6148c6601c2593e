/**
 * Scenario 1, through the whole system: agent → API → DynamoDB/SQS/SNS on moto → Slack.
 * A target with a good image and a bad one: the good service runs, the bad one is ImagePullBackOff with its
 * retry countdown in `fleetmedic devices` / `fleetmedic device`, on-call gets one alert; fixing the tag
 * self-heals at once and the alert resolves.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HTTPD_CMD } from '../support/engine-lab.js';
import { startE2e, waitFor, withLogsOnFailure, type E2e } from './support/e2e.js';

let e2e: E2e;
before(async () => {
  e2e = await startE2e('pull');
});
after(() => e2e?.close());

const target = (workerTag: string) => ({
  services: {
    web: {
      image: e2e.image('1'),
      command: HTTPD_CMD,
      healthCheck: {
        kind: 'http' as const,
        port: 8080,
        path: '/',
        intervalSeconds: 1,
        timeoutSeconds: 1,
        failureThreshold: 2,
        startupDelaySeconds: 1,
      },
    },
    worker: {
      image: e2e.image(workerTag),
      command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 3600 & wait $!; done'],
    },
  },
});

test('bad image + good image: good runs, ImagePullBackOff visible with countdown, alert sent; fixing the tag self-heals', () =>
  withLogsOnFailure(e2e, async () => {
    await e2e.register('demo-1');
    await e2e.setTarget('demo-1', target('missing'));
    const agent = await e2e.startAgent('demo-1');

    const detail = await waitFor(
      'web running + healthy and worker in ImagePullBackOff, as the cloud sees it',
      async () => {
        const d = await e2e.cliJson('device', 'demo-1');
        const web = d.services.find((s: any) => s.name === 'web');
        const worker = d.services.find((s: any) => s.name === 'worker');
        return web?.status === 'running' && web.lastHealthCheck?.healthy && worker?.error?.type === 'ImagePullBackOff'
          ? d
          : undefined;
      },
      90_000,
      500,
    );
    const worker = detail.services.find((s: any) => s.name === 'worker');
    assert.match(worker.error.message, /manifest unknown|not found/i);
    assert.ok(worker.error.retryCount >= 1);
    assert.equal(detail.health, 'degraded');

    const table = await e2e.cli('devices');
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      /demo-1\s+degraded\s+closed\s+(just now|\S+ ago)\s+worker: ImagePullBackOff\(\d+\) (retry in \d+[ms]|retrying now)/,
    );
    const human = await e2e.cli('device', 'demo-1');
    assert.match(human.stdout, /web\s+running\s+\S+\s+\S+\s+\d+\s+ok http/);
    assert.match(human.stdout, /worker: ImagePullBackOff — /);

    const alert = await e2e.fleet.slack!.waitFor(
      (m) => /ImagePullBackOff/.test(m.text) && /demo-1/.test(m.text),
      60_000,
    );
    assert.match(alert.text, /worker/);

    // The fix: the right tag. A changed target resets the backoff: no waiting out 10s→20s→40s...
    const logsBeforeFix = agent.logs.length;
    await e2e.setTarget('demo-1', target('2'));
    await waitFor(
      'worker running without error',
      async () => {
        const d = await e2e.cliJson('device', 'demo-1');
        const w = d.services.find((s: any) => s.name === 'worker');
        return w?.status === 'running' && !w.error && d.errors.length === 0 ? d : undefined;
      },
      60_000,
      500,
    );
    // Healed because the change reset the backoff, not because a retry came due (true however slow the machine).
    assert.ok(
      agent.logs.slice(logsBeforeFix).some((l) => /target changed: backoff reset/.test(l) && /worker/.test(l)),
      "the corrected target reset the worker's backoff",
    );
    const healed = await e2e.cli('devices');
    assert.match(healed.stdout, /demo-1\s+healthy\s+closed\s+(just now|\S+ ago)\s+-/);
    const alerts = e2e.fleet.slack!.messages.filter((m) => /ImagePullBackOff/.test(m.text) && /demo-1/.test(m.text));
    assert.ok(
      alerts.filter((m) => !/resolved/i.test(m.text)).length === 1,
      `one alert, not a storm: ${alerts.map((m) => m.text.split('\n')[0]).join(' | ')}`,
    );
    await e2e.fleet.slack!.waitFor((m) => /resolved/i.test(m.text) && /demo-1/.test(m.text), 60_000);
  }));
