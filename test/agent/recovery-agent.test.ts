/**
 * Health checks and auto-recovery inside the real reconcile loop (Agent + RecoveryModule, file target, real
 * engine): the loop's planner and recovery share the work without stepping on each other.
 *  - a service that always exits ends in CrashLoopBackOff after the rate limit, and the planner does not
 *    restart it behind the rate limit's back; the error reaches health.json with what was tried;
 *  - an agent restart does not reset the rate limit;
 *  - a changed (fixed) target heals a crash-looping service at once;
 *  - an HTTP check that starts failing gets the service restarted, and the status shows the restart;
 *  - a manual-stop marker leaves a failing service alone.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { readHealthFile } from '../../agent/src/output/health-file.js';
import { RecoveryModule } from '../../agent/src/recovery/module.js';
import { EXIT_CMD, execWait, HTTPD_CMD } from '../support/engine-lab.js';
import { harness, sleep, waitFor, type Harness } from './support/agent-harness.js';

const check = {
  kind: 'http' as const,
  port: 8080,
  intervalSeconds: 1,
  timeoutSeconds: 1,
  failureThreshold: 2,
  startupDelaySeconds: 1,
};

describe('recovery inside the reconcile loop', () => {
  const hs: Harness[] = [];
  after(async () => {
    for (const h of hs) await h.cleanup();
  });

  test('always exits → CrashLoopBackOff after 3 actions; the planner does not restart it; a fixed target heals it', async () => {
    const h = await harness('recloop');
    hs.push(h);
    await h.writeTarget({
      services: {
        app: { image: `${h.registry}/lab/busybox:1`, command: EXIT_CMD },
        ok: { image: `${h.registry}/lab/busybox:1`, command: HTTPD_CMD, healthCheck: check },
      },
    });
    const recovery = new RecoveryModule({ defaultStartupDelayMs: 700 });
    const agent = await h.open({ intervalMs: 1000 }, [recovery]);
    await agent.start();
    await waitFor(
      'CrashLoopBackOff',
      async () => recovery.controller.policy.state('app').phase === 'crash-loop',
      60_000,
    );
    const app = agent.reports().find((s) => s.name === 'app')!;
    assert.equal(app.error?.type, 'CrashLoopBackOff');
    assert.deepEqual(app.error?.attempted, ['restart', 'recreate', 'repull']);
    assert.ok(app.recentRestarts >= 3);

    // Several more cycles (1 s interval): nothing restarts it — not recovery (rate limit), not the planner (hold).
    const actions = recovery.controller.history.length;
    const [c] = await h.byService('app');
    const startedAt = (await h.docker.getContainer(c!.Id).inspect()).State.StartedAt;
    await sleep(4000);
    assert.equal(recovery.controller.history.length, actions);
    assert.equal(
      (await h.docker.getContainer(c!.Id).inspect()).State.StartedAt,
      startedAt,
      'not started again by the planner',
    );
    const hf = await readHealthFile(agent.config.healthFile);
    assert.equal(hf.services.find((s) => s.name === 'app')?.error?.type, 'CrashLoopBackOff', 'health.json tells');
    assert.equal(hf.services.find((s) => s.name === 'ok')?.status, 'running', 'the other service is unaffected');
    assert.equal((await h.byService('app')).length, 1, 'no duplicate containers');

    // The agent restarts: the rate limit is not reset by that (recovery.json), nor are containers duplicated.
    await agent.stop();
    const recovery2 = new RecoveryModule({ defaultStartupDelayMs: 700 });
    const agent2 = await h.open({ intervalMs: 1000 }, [recovery2]);
    await agent2.start();
    await sleep(3000);
    assert.equal(recovery2.controller.policy.state('app').phase, 'crash-loop');
    assert.deepEqual(recovery2.controller.history, [], 'no fresh round of restarts after the agent restart');
    assert.equal(agent2.reports().find((s) => s.name === 'app')?.error?.type, 'CrashLoopBackOff');
    assert.equal((await h.byService('app')).length, 1);

    // The operator fixes the command: the new spec is the planner's, recreated at once.
    await h.writeTarget({
      services: {
        app: { image: `${h.registry}/lab/busybox:1`, command: HTTPD_CMD },
        ok: { image: `${h.registry}/lab/busybox:1`, command: HTTPD_CMD, healthCheck: check },
      },
    });
    agent2.trigger('test');
    await waitFor(
      'app running the fixed spec',
      async () => {
        const r = agent2.reports().find((s) => s.name === 'app');
        return r?.status === 'running' && r.error === null;
      },
      30_000,
    );
    assert.equal(recovery2.controller.policy.state('app').phase, 'idle');
    await agent2.stop();
  });

  test('an HTTP check that starts failing: restarted by recovery, the restart shows in the status', async () => {
    const h = await harness('rechttp');
    hs.push(h);
    await h.writeTarget({
      services: { web: { image: `${h.registry}/lab/busybox:1`, command: HTTPD_CMD, healthCheck: check } },
    });
    const recovery = new RecoveryModule();
    const agent = await h.open({ intervalMs: 30_000 }, [recovery]);
    await agent.start();
    await waitFor(
      'web healthy',
      async () => agent.reports().find((s) => s.name === 'web')?.lastHealthCheck?.healthy === true,
      30_000,
    );
    const [c] = await h.byService('web');
    await execWait(h.docker, c!.Id, ['killall', 'httpd']);
    await waitFor(
      'restarted and healthy',
      async () => {
        const r = agent.reports().find((s) => s.name === 'web');
        return r?.restartCount === 1 && r.lastHealthCheck?.healthy === true && r.error === null;
      },
      20_000,
    );
    assert.equal((await h.byService('web'))[0]!.Id, c!.Id);
    await agent.stop();
  });

  test('a manual-stop marker leaves a failing service alone', async () => {
    const h = await harness('recmanual');
    hs.push(h);
    await h.writeTarget({
      services: { web: { image: `${h.registry}/lab/busybox:1`, command: HTTPD_CMD, healthCheck: check } },
    });
    const recovery = new RecoveryModule();
    const agent = await h.open({ intervalMs: 1000 }, [recovery]);
    await agent.start();
    await waitFor('web healthy', async () => agent.isHealthy('web'), 30_000);
    await agent.state.markers.set('web', { reason: 'test' });
    const [c] = await h.byService('web');
    await h.docker.getContainer(c!.Id).stop({ t: 1 }); // as `fleetmedic-agent stop web` does
    await sleep(4000);
    assert.deepEqual(recovery.controller.history, []);
    assert.equal((await h.docker.getContainer(c!.Id).inspect()).State.Running, false);
    assert.equal(agent.reports().find((s) => s.name === 'web')?.status, 'manually-stopped');
    await agent.state.markers.clear('web');
    agent.trigger('test');
    await waitFor(
      'back after the marker is gone',
      async () => (await h.docker.getContainer(c!.Id).inspect()).State.Running,
      15_000,
    );
    await agent.stop();
  });
});
