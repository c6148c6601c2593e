/**
 * The push channel end to end: the real agent (child process, with --push-url) on the real engine, against the
 * local fleet with its WebSocket emulation. The server's sync interval is an hour and the agent's polls are an
 * hour apart, so an operator's restart-service that completes within the test was brought by the push channel:
 * the assertion is that it happens at all, not a wall-clock window.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HTTPD_CMD } from '../support/engine-lab.js';
import { labContainers, startE2e, waitFor, withLogsOnFailure, type AgentProcess, type E2e } from './support/e2e.js';

const HOUR = '3600';
let e2e: E2e;
let agent: AgentProcess;
before(async () => {
  e2e = await startE2e('push', {
    env: { HEARTBEAT_SECONDS: HOUR, OFFLINE_AFTER_SECONDS: String(1.5 * 3600), ACTIVE_SYNC_SECONDS: HOUR },
  });
  await e2e.register('push-kiosk');
  await e2e.setTarget('push-kiosk', { services: { web: { image: e2e.image('1'), command: HTTPD_CMD } } });
  agent = await e2e.startAgent('push-kiosk', {
    env: {
      FLEETMEDIC_PUSH_URL: e2e.fleet.push!.url,
      FLEETMEDIC_HEARTBEAT_SECONDS: HOUR,
      FLEETMEDIC_JOB_POLL_SECONDS: HOUR,
      FLEETMEDIC_TARGET_POLL_SECONDS: HOUR,
    },
  });
  await waitFor(
    'web running',
    async () =>
      (await e2e.cliJson('device', 'push-kiosk')).services.find((s: any) => s.name === 'web')?.status === 'running',
    90_000,
    500,
  );
  await waitFor("the agent's push connection", async () => e2e.fleet.push!.connectionIds().length > 0, 30_000, 200);
});
after(() => e2e?.close());

async function web() {
  const [c] = (await labContainers(e2e.docker, agent.agentId)) as any[];
  const info = await e2e.docker.getContainer(c.Id ?? c.id).inspect();
  return { id: info.Id, startedAt: info.State.StartedAt as string };
}

test('restart-service reaches the agent through the push channel, long before its next poll, and runs once', () =>
  withLogsOnFailure(e2e, async () => {
    const before = await web();
    const r = await e2e.cli(
      '--json',
      'jobs',
      'enqueue',
      'push-kiosk',
      'restart-service',
      '--service',
      'web',
      '--reason',
      'push e2e',
      '--wait',
      '120',
    );
    assert.equal(r.code, 0, r.stderr);
    const job = JSON.parse(r.stdout);
    assert.equal(job.status, 'SUCCEEDED', 'completed although the next poll is an hour away');
    const statuses = job.history.map((h: any) => h.status);
    assert.equal(
      statuses.filter((s: string) => s === 'IN_PROGRESS').length,
      1,
      `executed once: ${statuses.join(' → ')}`,
    );
    const after = await web();
    assert.equal(after.id, before.id, 'restarted in place');
    assert.ok(Date.parse(after.startedAt) > Date.parse(before.startedAt), 'the container really restarted');
    assert.ok(e2e.fleet.push!.stats.posts >= 1, 'a notification was posted');
  }));

test('the agent says goodbye on SIGTERM: the cloud forgets its connection', () =>
  withLogsOnFailure(e2e, async () => {
    await agent.stop();
    await waitFor('the connection to be gone', async () => e2e.fleet.push!.connectionIds().length === 0, 30_000, 200);
    assert.ok(e2e.fleet.push!.stats.disconnects >= 1);
  }));
