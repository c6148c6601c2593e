/**
 * Exec-based checks (`process`, `custom`) on a busy engine (docs/architecture.md, "Health checks on a busy
 * engine"), on the real engine:
 * - a `custom` command that overruns its timeout is killed: nothing it started is left running;
 * - with every engine call slowed down (a socket proxy the test owns adds seconds to each connection), checks
 *   whose timeout is shorter than the engine's delay still pass, so healthy services are never restarted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { dockerFromHost } from '../../agent/src/engine/docker.js';
import { HealthChecker } from '../../agent/src/health/checker.js';
import { RecoveryModule } from '../../agent/src/recovery/module.js';
import { HealthCheckSpec } from '../../functions/contract/target-state.js';
import { createLabContainer, removeLabContainers, SLEEP_CMD, uniqueAgentId } from '../support/engine-lab.js';
import { requireEngine } from '../support/engine.js';
import { harness, waitFor } from './support/agent-harness.js';
import { EngineProxy, engineCheckedServices } from './support/engine-proxy.js';

const ENGINE_SOCKET = (process.env.DOCKER_HOST ?? '').startsWith('unix://')
  ? process.env.DOCKER_HOST!.slice('unix://'.length)
  : '/var/run/docker.sock';

test('a custom check that overruns its timeout is killed, with everything it started', {
  timeout: 120_000,
}, async (t) => {
  const docker = await requireEngine();
  const agentId = uniqueAgentId('t-execkill');
  t.after(() => removeLabContainers(docker, agentId));
  const box = await createLabContainer(docker, { agentId, service: 'box', cmd: SLEEP_CMD });
  const checker = new HealthChecker(docker);
  // A command that starts a child of its own: killing only the command would leave `sleep 1001` behind.
  const spec = HealthCheckSpec.parse({
    kind: 'custom',
    command: ['sh', '-c', 'sleep 1001 & sleep 1002'],
    timeoutSeconds: 1,
  });
  const r = await checker.check(box.id, spec);
  assert.equal(r.healthy, false);
  assert.equal(r.unknown, undefined, `the command ran, so this is a failure, not "could not run": ${r.message}`);
  assert.match(r.message!, /did not finish within 1000 ms/);
  // `top` lists live processes (a killed child the container's init has not reaped shows as a zombie, not as its command).
  const top = (await box.top()) as { Processes?: string[][] };
  const left = (top.Processes ?? []).map((p) => p.join(' ')).filter((l) => /sleep 100[12]/.test(l));
  assert.deepEqual(left, [], 'no process of the timed-out check is left in the container');
});

test('a slow engine: exec and process checks pass within their timeouts, no healthy service is restarted', {
  timeout: 300_000,
}, async (t) => {
  const h = await harness('slowexec');
  const proxy = new EngineProxy(join(h.stateDir, 'engine.sock'), ENGINE_SOCKET);
  await proxy.forward();
  t.after(async () => {
    await h.cleanup();
    await proxy.close();
  });
  // Timeouts shorter than what the engine takes for one call: only the command's own time counts against them.
  const check = { intervalSeconds: 2, timeoutSeconds: 1, failureThreshold: 2, startupDelaySeconds: 1 };
  await h.writeTarget({ services: engineCheckedServices(h.registry, check) });
  const recovery = new RecoveryModule({ events: false });
  const agent = await h.open({ intervalMs: 5000 }, [recovery], dockerFromHost(proxy.socketUrl, 30_000));
  await agent.start();
  const c = recovery.controller;
  await waitFor('both services healthy', async () => c.isHealthy('proc') && c.isHealthy('cmd'), 120_000, 200);
  const actionsBefore = c.history.length;

  proxy.delayMs = 1500; // every engine call: +1.5 s per connection (an exec is at least two), more than the 1 s timeout
  const seen = { proc: new Set<string>(), cmd: new Set<string>() };
  for (const s of ['proc', 'cmd'] as const) seen[s].add(c.lastCheck(s)?.checkedAt ?? '');
  // Enough completed checks on the slow engine to have crossed the failure threshold twice over, or a restart.
  await waitFor(
    'three checks of each service on the slow engine (or a recovery action)',
    async () => {
      for (const s of ['proc', 'cmd'] as const) seen[s].add(c.lastCheck(s)?.checkedAt ?? '');
      return c.history.length > actionsBefore || (seen.proc.size > 4 && seen.cmd.size > 4);
    },
    180_000,
    100,
  );
  assert.deepEqual(c.history.slice(actionsBefore), [], 'no healthy service was restarted because the engine was slow');
  for (const s of ['proc', 'cmd'] as const) {
    const last = c.lastCheck(s);
    assert.equal(last?.healthy, true, `${s}: ${last?.message}`);
    assert.equal(c.policy.state(s).phase, 'idle');
  }
});
