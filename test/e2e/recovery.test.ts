/**
 * Scenario 2, through the whole system with a real agent on the lab engine:
 * a crashed service is restarted, a hung service (HTTP check failing, container still up) is restarted, a
 * failed dependency is recovered first and its dependent restarted after it, and resource exhaustion that
 * restarting cannot fix ends in an alert at the Slack receiver that says what was tried. Along the way, the
 * agent's recovery counters reach the cloud in its reports: `fleetmedic stats --device` shows each attempt by
 * strategy and outcome.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { HTTPD_CMD } from '../support/engine-lab.js';
import {
  execWait,
  labContainers,
  startE2e,
  waitFor,
  withLogsOnFailure,
  type AgentProcess,
  type E2e,
} from './support/e2e.js';

let e2e: E2e;
let agent: AgentProcess;
const volume = `fm-e2e-leak-${randomBytes(3).toString('hex')}`;

const http = {
  kind: 'http' as const,
  port: 8080,
  path: '/',
  intervalSeconds: 1,
  timeoutSeconds: 1,
  failureThreshold: 2,
  startupDelaySeconds: 1,
};

before(async () => {
  e2e = await startE2e('recovery');
  await e2e.register('edge-1');
  await e2e.setTarget('edge-1', {
    services: {
      db: { image: e2e.image('1'), command: HTTPD_CMD, healthCheck: http },
      app: { image: e2e.image('1'), command: HTTPD_CMD, healthCheck: http, dependsOn: ['db'] },
    },
    rollbackWindowSeconds: 3600,
  });
  agent = await e2e.startAgent('edge-1');
  await waitFor('db and app running and healthy in the cloud', async () => healthyBoth(), 90_000, 500);
});
after(async () => {
  await e2e?.close();
  await e2e?.docker
    .getVolume(volume)
    .remove({ force: true })
    .catch(() => {});
});

async function service(name: string, deviceId = 'edge-1') {
  const d = await e2e.cliJson('device', deviceId);
  return d.services.find((s: any) => s.name === name);
}
async function healthyBoth() {
  const [db, app] = [await service('db'), await service('app')];
  return db?.status === 'running' &&
    db.lastHealthCheck?.healthy &&
    app?.status === 'running' &&
    app.lastHealthCheck?.healthy
    ? { db, app }
    : undefined;
}
/** The device's recovery counters as the cloud aggregated them (`fleetmedic stats`), by strategy. */
async function recoveryStats(deviceId: string) {
  const stats = await e2e.cliJson('stats', '--device', deviceId, '--since', '1h');
  assert.equal(stats.deviceId, deviceId);
  const by = new Map<string, { attempts: number; succeeded: number; failed: number }>(
    stats.windows[0].strategies.map((s: any) => [s.strategy, s]),
  );
  return (strategy: string) => by.get(strategy) ?? { attempts: 0, succeeded: 0, failed: 0 };
}
/** Waits until the cloud counts more successful agent restarts for edge-1 than `before`. */
async function restartCounted(before: number) {
  return await waitFor(
    'the successful restart counted in the cloud',
    async () => {
      const r = (await recoveryStats('edge-1'))('restart');
      return r.succeeded > before ? r : undefined;
    },
    60_000,
    500,
  );
}

async function containerOf(name: string) {
  const c = (await labContainers(e2e.docker, agent.agentId)).find(
    (x: any) => x.Labels?.['io.fleetmedic.service'] === name || x.service === name,
  );
  assert.ok(c, `a container for ${name}`);
  return (c as any).Id ?? (c as any).id;
}

test('a crashed service is restarted and the cloud sees the restart', () =>
  withLogsOnFailure(e2e, async () => {
    const before = await service('app');
    const counted = (await recoveryStats('edge-1'))('restart').succeeded;
    await e2e.docker.getContainer(await containerOf('app')).kill();
    const after = await waitFor(
      'app restarted and healthy again',
      async () => {
        const s = await service('app');
        return s?.status === 'running' && s.lastHealthCheck?.healthy && s.restartCount > before.restartCount
          ? s
          : undefined;
      },
      60_000,
      500,
    );
    assert.ok(after.restartCount > before.restartCount);
    assert.match((await e2e.cli('device', 'edge-1')).stdout, /app\s+running\s+\S+\s+\S+\s+[1-9]/);
    // The agent's counters came with its reports: the restart, verified healthy, is a successful attempt.
    await restartCounted(counted);
  }));

test('a hung service (HTTP check failing, container up) is restarted and recovers', () =>
  withLogsOnFailure(e2e, async () => {
    const before = await service('app');
    const counted = (await recoveryStats('edge-1'))('restart').succeeded;
    assert.equal(await execWait(e2e.docker, await containerOf('app'), ['killall', 'httpd']), 0);
    const after = await waitFor(
      'app restarted after failing its HTTP check',
      async () => {
        const s = await service('app');
        return s?.status === 'running' && s.lastHealthCheck?.healthy && s.restartCount > before.restartCount
          ? s
          : undefined;
      },
      60_000,
      500,
    );
    assert.ok(after.restartCount > before.restartCount);
    await restartCounted(counted);
  }));

test('a failed dependency is recovered first; its dependent is restarted after it', () =>
  withLogsOnFailure(e2e, async () => {
    const before = await healthyBoth();
    assert.ok(before);
    assert.equal(await execWait(e2e.docker, await containerOf('db'), ['killall', 'httpd']), 0);
    const after = await waitFor(
      'db recovered, then app restarted',
      async () => {
        const now = await healthyBoth();
        return now && now.db.restartCount > before.db.restartCount && now.app.restartCount > before.app.restartCount
          ? now
          : undefined;
      },
      90_000,
      500,
    );
    assert.ok(after);
    // Order from the engine itself: when did each container last start?
    const started = async (name: string) =>
      Date.parse((await e2e.docker.getContainer(await containerOf(name)).inspect()).State.StartedAt);
    const [dbAt, appAt] = [await started('db'), await started('app')];
    assert.ok(
      appAt >= dbAt,
      `app started (${new Date(appAt).toISOString()}) after db (${new Date(dbAt).toISOString()})`,
    );
  }));

test('resource exhaustion that restarting cannot fix: an alert reaches Slack saying what was tried', () =>
  withLogsOnFailure(e2e, async () => {
    await e2e.register('edge-2');
    // The service leaks 1 MB a second into a volume (it survives restart and recreate); its check fails above 3 MB.
    await e2e.setTarget('edge-2', {
      services: {
        hog: {
          image: e2e.image('1'),
          command: [
            'sh',
            '-c',
            'trap "exit 0" TERM; i=0; while :; do i=$((i+1)); dd if=/dev/zero of=/data/leak-$$-$i bs=1024 count=1024 2>/dev/null; sleep 1 & wait $!; done',
          ],
          volumes: [{ source: volume, target: '/data' }],
          healthCheck: {
            kind: 'custom',
            command: ['sh', '-c', '[ "$(du -sk /data | cut -f1)" -lt 3072 ]'],
            intervalSeconds: 1,
            timeoutSeconds: 2,
            failureThreshold: 2,
            startupDelaySeconds: 1,
          },
        },
      },
      rollbackWindowSeconds: 3600,
    });
    await e2e.startAgent('edge-2');
    const alert = await e2e.fleet.slack!.waitFor(
      (m) => /edge-2/.test(m.text) && /hog/.test(m.text) && /tried/i.test(m.text),
      180_000,
    );
    if (process.env.E2E_DEBUG) console.error(alert.text);
    assert.match(alert.text, /agent: restart/, 'the alert lists the restarts that did not help');
    assert.match(alert.text, /agent: (recreate|repull)/, 'and the escalation beyond restarting');
    const hog = await service('hog', 'edge-2');
    assert.ok(hog.error, `the agent reports the service as failed: ${JSON.stringify(hog)}`);
    assert.ok(hog.error.attempted.length > 0 || hog.restartCount >= 3);
    const shown = await e2e.cli('device', 'edge-2');
    assert.match(shown.stdout, /hog: \w+ — /);

    // The cloud counts what the agent tried, by strategy and outcome: restarts that did not help, then the rungs
    // beyond. None helped (the volume only grows), so nothing counts as succeeded.
    const stats = await waitFor(
      'the failed restart and the next rung counted in the cloud',
      async () => {
        const of = await recoveryStats('edge-2');
        const beyond = of('recreate').failed + of('repull').failed;
        return of('restart').failed > 0 && beyond > 0 ? of : undefined;
      },
      60_000,
      500,
    );
    for (const strategy of ['restart', 'recreate', 'repull']) assert.equal(stats(strategy).succeeded, 0, strategy);
    const table = await e2e.cli('stats', '--device', 'edge-2', '--since', '1h');
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /restart\s+[1-9]\d*\s+0\s+[1-9]\d*\s+0\.0 %/);
  }));
