/**
 * Engine outages (docs/architecture.md, "Engine outages"), on the real engine behind a socket proxy this test
 * owns: the agent talks to the engine only through the proxy, and the test cuts it (socket file gone, then
 * every connection refused) and restores it. While the engine cannot be reached a check that cannot run is
 * unknown (no failed result is booked), recovery decides nothing and spends nothing; when it is back, a
 * container that died during the outage and one killed just after it are both restarted from the first rung
 * (no CrashLoopBackOff, no re-pull). Every assertion holds whichever side of a race wins; every wait is bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { dockerFromHost } from '../../agent/src/engine/docker.js';
import { RecoveryModule } from '../../agent/src/recovery/module.js';
import { harness, sleep, waitFor } from './support/agent-harness.js';
import { EngineProxy, engineCheckedServices } from './support/engine-proxy.js';

const ENGINE_SOCKET = (process.env.DOCKER_HOST ?? '').startsWith('unix://')
  ? process.env.DOCKER_HOST!.slice('unix://'.length)
  : '/var/run/docker.sock';
const SERVICES = ['proc', 'cmd'] as const;

test('engine outage: unknown checks, no recovery budget spent, prompt restarts once it is back', {
  timeout: 300_000,
}, async (t) => {
  const h = await harness('outage');
  const proxy = new EngineProxy(join(h.stateDir, 'engine.sock'), ENGINE_SOCKET);
  await proxy.forward();
  t.after(async () => {
    await proxy.forward().catch(() => {});
    await h.cleanup();
    await proxy.close();
  });
  const check = { intervalSeconds: 1, timeoutSeconds: 2, failureThreshold: 1, startupDelaySeconds: 1 };
  // Both checks run through the engine (top / exec): the ones an outage used to turn into failures.
  await h.writeTarget({ services: engineCheckedServices(h.registry, check) });
  const recovery = new RecoveryModule();
  const agent = await h.open({ intervalMs: 2000 }, [recovery], dockerFromHost(proxy.socketUrl, 15_000));
  await agent.start();
  const c = recovery.controller;
  await waitFor('both services running and healthy', async () => SERVICES.every((s) => c.isHealthy(s)), 120_000, 200);
  const idOf = async (service: string) => (await h.byService(service)).find((x) => x.State === 'running')?.Id;
  const ids = { proc: (await idOf('proc'))!, cmd: (await idOf('cmd'))! };
  assert.ok(ids.proc && ids.cmd);
  const actionsBefore = c.history.length;

  // ── the outage: first the socket is gone (ENOENT), then the engine refuses every connection ──
  await proxy.gone();
  await sleep(2000);
  await proxy.refusing();
  // A container dies while nobody can see it.
  await h.docker.getContainer(ids.cmd).kill();
  await waitFor(
    'the agent tried the engine many times during the outage',
    async () => proxy.refused >= 25,
    120_000,
    100,
  );
  const lastDuring = Object.fromEntries(SERVICES.map((s) => [s, c.lastCheck(s)]));
  for (const s of SERVICES) {
    assert.notEqual(
      lastDuring[s]?.healthy,
      false,
      `${s}: a check that could not run is not booked as failed (${lastDuring[s]?.message})`,
    );
    const st = c.policy.state(s);
    assert.deepEqual(
      { recent: st.recent.length, total: st.totalRestarts, level: st.level, attempted: st.attempted },
      { recent: 0, total: 0, level: 0, attempted: [] },
      `${s}: no recovery budget spent during the outage`,
    );
    assert.notEqual(st.phase, 'crash-loop', `${s}: not in CrashLoopBackOff`);
  }
  assert.equal(
    c.history.length,
    actionsBefore,
    `no recovery action reached the engine during the outage: ${JSON.stringify(c.history)}`,
  );

  // ── the engine is back; a container is killed right after ──
  await proxy.forward();
  await h.docker.getContainer(ids.proc).kill();
  const restarted = async (service: 'proc' | 'cmd') => {
    const info = await h.docker
      .getContainer(ids[service])
      .inspect()
      .catch(() => undefined);
    const running = info?.State?.Running === true || (await idOf(service)) !== undefined;
    return running && c.history.slice(actionsBefore).some((a) => a.service === service && a.ok) && c.isHealthy(service);
  };
  // The default rate-limit window is 5 minutes: a spent budget would leave them in CrashLoopBackOff far past this.
  await waitFor(
    'both services restarted and healthy again',
    async () => (await restarted('proc')) && (await restarted('cmd')),
    120_000,
    200,
  );
  for (const s of SERVICES) {
    const mine = c.history.slice(actionsBefore).filter((a) => a.service === s);
    assert.equal(
      mine[0]?.action,
      'restart',
      `${s}: recovery starts at the first rung after the outage (${JSON.stringify(mine)})`,
    );
    assert.ok(
      mine.every((a) => a.ok && a.action !== 'repull'),
      `${s}: no failed action, no re-pull (${JSON.stringify(mine)})`,
    );
    assert.equal(
      c.policy.state(s).recent.length,
      c.history.filter((a) => a.service === s).length,
      `${s}: only actions that ran count against the rate limit`,
    );
  }
});
