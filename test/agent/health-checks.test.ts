/**
 * The four check kinds against real containers on the engine (container-lab's Podman, or any Docker).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type Docker from 'dockerode';
import { HealthChecker } from '../../agent/src/health/checker.js';
import { HealthCheckSpec } from '../../functions/contract/target-state.js';
import { requireEngine } from '../support/engine.js';
import {
  createLabContainer,
  execWait,
  HTTPD_CMD,
  removeLabContainers,
  SLEEP_CMD,
  uniqueAgentId,
} from '../support/engine-lab.js';
import { freePort } from '../../local/moto.js';

const spec = (s: Record<string, unknown>) => HealthCheckSpec.parse({ timeoutSeconds: 2, ...s });

describe('health checks on the real engine', () => {
  let docker: Docker;
  let checker: HealthChecker;
  const agentId = uniqueAgentId('hc');
  let web: Docker.Container;
  let sleeper: Docker.Container;

  before(async () => {
    docker = await requireEngine();
    checker = new HealthChecker(docker);
    web = await createLabContainer(docker, { agentId, service: 'web', cmd: HTTPD_CMD });
    sleeper = await createLabContainer(docker, { agentId, service: 'sleeper', cmd: SLEEP_CMD });
    // httpd needs a moment after the container starts
    for (let i = 0; i < 50 && !(await checker.check(web.id, spec({ kind: 'tcp', port: 8080 }))).healthy; i++)
      await new Promise((r) => setTimeout(r, 100));
  });
  after(async () => {
    if (docker) await removeLabContainers(docker, agentId);
  });

  test('http: 2xx from the container (reached on its engine-network IP) is healthy, 404 is not', async () => {
    const ok = await checker.check(web.id, spec({ kind: 'http', port: 8080, path: '/index.html' }));
    assert.equal(ok.healthy, true, ok.message);
    assert.match(ok.message!, /HTTP 200/);
    const missing = await checker.check(web.id, spec({ kind: 'http', port: 8080, path: '/nope' }));
    assert.equal(missing.healthy, false);
    assert.match(missing.message!, /HTTP 404/);
  });

  test('http: a published port is used when there is one', async () => {
    // A port the kernel just handed out (not a random guess in the ephemeral range, where client sockets live);
    // another process can still take it before the engine binds it, so a lost race picks a new one.
    let hostPort = 0;
    let pub: Awaited<ReturnType<typeof createLabContainer>> | undefined;
    for (let attempt = 0; !pub; attempt++) {
      hostPort = await freePort();
      try {
        pub = await createLabContainer(docker, {
          agentId,
          service: `pub${attempt}`,
          cmd: HTTPD_CMD,
          publish: { container: 8080, host: hostPort },
        });
      } catch (err) {
        if (attempt >= 4 || !/address already in use/.test(String((err as Error).message))) throw err;
      }
    }
    const c = new HealthChecker(docker);
    let r = await c.check(pub.id, spec({ kind: 'http', port: 8080 }));
    for (let i = 0; i < 50 && !r.healthy; i++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await c.check(pub.id, spec({ kind: 'http', port: 8080 }));
    }
    assert.equal(r.healthy, true, r.message);
    assert.match(r.message!, new RegExp(`127\\.0\\.0\\.1:${hostPort}`));
  });

  test('tcp: an open port connects, a closed one is refused', async () => {
    assert.equal((await checker.check(web.id, spec({ kind: 'tcp', port: 8080 }))).healthy, true);
    const closed = await checker.check(web.id, spec({ kind: 'tcp', port: 9999 }));
    assert.equal(closed.healthy, false);
    assert.match(closed.message!, /ECONNREFUSED/);
    assert.equal(closed.notRunning, undefined, 'a refused port in a running container is not "not running"');
  });

  test('process: matched against the command lines inside the container', async () => {
    // What is tested is the matching, not the engine's exec latency: room for a busy engine (the timeout itself
    // is tested with the custom check below).
    const found = await checker.check(
      web.id,
      spec({ kind: 'process', processName: 'httpd -p 8080', timeoutSeconds: 30 }),
    );
    assert.equal(found.healthy, true, found.message);
    const none = await checker.check(web.id, spec({ kind: 'process', processName: 'nginx', timeoutSeconds: 30 }));
    assert.equal(none.healthy, false);
    assert.match(none.message!, /no process matching 'nginx'/);
  });

  test('custom: exit 0 is healthy, non-zero is not (with output), an overrun is a timeout', async () => {
    assert.equal(
      (
        await checker.check(
          sleeper.id,
          spec({ kind: 'custom', command: ['sh', '-c', 'test -d /tmp'], timeoutSeconds: 30 }),
        )
      ).healthy,
      true,
    );
    const bad = await checker.check(
      sleeper.id,
      spec({ kind: 'custom', command: ['sh', '-c', 'echo db down >&2; exit 3'], timeoutSeconds: 30 }),
    );
    assert.equal(bad.healthy, false);
    assert.match(bad.message!, /exit code 3: db down/);
    const started = Date.now();
    const slow = await checker.check(sleeper.id, spec({ kind: 'custom', command: ['sleep', '60'], timeoutSeconds: 1 }));
    assert.equal(slow.healthy, false);
    assert.match(slow.message!, /did not finish within 1000 ms/);
    assert.ok(Date.now() - started < 30_000, 'the timeout cut the 60 s command short');
  });

  test('httpd killed inside a running container: the http check fails while the container runs', async () => {
    const victim = await createLabContainer(docker, { agentId, service: 'victim', cmd: HTTPD_CMD });
    const c = new HealthChecker(docker);
    let r = await c.check(victim.id, spec({ kind: 'http', port: 8080 }));
    for (let i = 0; i < 50 && !r.healthy; i++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await c.check(victim.id, spec({ kind: 'http', port: 8080 }));
    }
    assert.equal(r.healthy, true, r.message);
    assert.equal(await execWait(docker, victim.id, ['killall', 'httpd']), 0);
    const down = await c.check(victim.id, spec({ kind: 'http', port: 8080 }));
    assert.equal(down.healthy, false);
    assert.equal(down.notRunning, undefined);
    assert.equal((await victim.inspect()).State.Running, true);
  });

  test('a stopped container is reported as not running, for every kind', async () => {
    const gone = await createLabContainer(docker, { agentId, service: 'gone', cmd: SLEEP_CMD });
    await gone.stop({ t: 1 });
    for (const s of [
      spec({ kind: 'http', port: 8080 }),
      spec({ kind: 'tcp', port: 8080 }),
      spec({ kind: 'process', processName: 'sleep' }),
      spec({ kind: 'custom', command: ['true'] }),
    ]) {
      const r = await checker.check(gone.id, s);
      assert.equal(r.healthy, false, s.kind);
      assert.equal(r.notRunning, true, `${s.kind}: ${r.message}`);
    }
  });
});
