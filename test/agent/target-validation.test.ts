/**
 * The whole target is checked before anything is applied, and start-up refuses bad state cleanly
 * (README "Installing the agent", docs/architecture.md "Agent state directory"):
 * host port conflicts name both services; a port held by another process is a transient failure; a target
 * file has a size limit; a dependency cycle names its services; a half-written lock file is exit 2 without a
 * stack trace; a stale lock taken over is logged and its set-aside copy removed. Against the real engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { utimes, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { TargetState } from '../../functions/contract/target-state.js';
import { classifyContainerError } from '../../agent/src/backoff/errors.js';
import { harness, sleep, waitFor } from './support/agent-harness.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'fleetmedic-agent.js');

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, FLEETMEDIC_AGENT_FROM_SOURCE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

const issues = (input: unknown) => {
  const r = TargetState.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => i.message);
};

test('host port conflicts are refused up front, naming the services; a cycle names its services', () => {
  const img = 'reg/app:1';
  assert.deepEqual(
    issues({
      services: {
        a: { image: img, ports: [{ container: 80, host: 8080 }] },
        b: { image: img, ports: [{ container: 81, host: 8080 }] },
      },
    }),
    ["host port 8080/tcp is published by more than one service: 'a' and 'b'"],
  );
  assert.deepEqual(
    issues({
      services: {
        a: {
          image: img,
          ports: [
            { container: 80, host: 9090 },
            { container: 81, host: 9090 },
          ],
        },
      },
    }),
    ["host port 9090/tcp is published twice by 'a'"],
  );
  // Same number, other protocol, or no host port: no conflict.
  assert.deepEqual(
    issues({
      services: {
        a: {
          image: img,
          ports: [{ container: 53, host: 53 }, { container: 53, host: 53, protocol: 'udp' }, { container: 80 }],
        },
        b: { image: img, ports: [{ container: 80 }] },
      },
    }),
    [],
  );
  assert.deepEqual(
    issues({
      services: {
        a: { image: img, dependsOn: ['b'] },
        b: { image: img, dependsOn: ['c'] },
        c: { image: img, dependsOn: ['a'] },
        d: { image: img },
      },
    }),
    ['dependency cycle: a -> b -> c -> a'],
  );
});

test('a port held by another process is a transient StartFailure: retried, and the service starts once the port is free', async (t) => {
  assert.equal(
    classifyContainerError(
      'startContainer',
      'cannot listen on the TCP port: listen tcp4 :8080: bind: address already in use',
      500,
    ).permanent,
    false,
  );
  assert.equal(
    classifyContainerError('startContainer', 'Bind for 0.0.0.0:8080 failed: port is already allocated', 500).permanent,
    false,
  );
  const h = await harness('busyport');
  t.after(() => h.cleanup());
  const holder = net.createServer().listen(0, '0.0.0.0');
  t.after(() => holder.close());
  await new Promise((r) => holder.once('listening', r));
  const port = (holder.address() as net.AddressInfo).port;
  await h.writeTarget({
    services: {
      web: {
        image: `${h.registry}/lab/busybox:1`,
        command: ['httpd', '-f', '-p', '80'],
        ports: [{ container: 80, host: port }],
      },
    },
  });
  const agent = await h.open();
  const r1 = await agent.reconcileNow();
  const failed = r1.outcomes.find((o) => o.status === 'failed');
  assert.ok(failed && failed.status === 'failed', `the start failed on the busy port: ${JSON.stringify(r1.errors)}`);
  assert.equal(failed.error.type, 'StartFailure');
  assert.equal(failed.error.permanent, false, failed.error.message);
  assert.match(failed.error.message, /already in use/);
  const report = agent.reports().find((s) => s.name === 'web')!;
  assert.equal(report.error?.permanent, false);
  assert.equal(report.error?.quarantined, false);

  await new Promise((r) => holder.close(r));
  await waitFor(
    'the service to start once the port is free',
    async () => {
      await agent.reconcileNow();
      return (await h.byService('web')).some((c) => c.State === 'running');
    },
    30_000,
    250,
  );
});

test('a target file over the size limit is refused (exit 2 at start)', async (t) => {
  const h = await harness('bigtarget');
  t.after(() => h.cleanup());
  await writeFile(h.targetFile, `${' '.repeat(1024 * 1024)}{"services":{}}`);
  const r = await cli([
    'run',
    '--once',
    '--target-file',
    h.targetFile,
    '--state-dir',
    h.stateDir,
    '--agent-id',
    h.agentId,
    '--name-prefix',
    h.prefix,
  ]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /larger than 256 KiB/);
});

test('port conflicts in a target file: exit 2 at start naming both services, and nothing is created', async (t) => {
  const h = await harness('portconflict');
  t.after(() => h.cleanup());
  const img = `${h.registry}/lab/busybox:1`;
  await h.writeTarget({
    services: {
      api: { image: img, ports: [{ container: 80, host: 18080 }] },
      web: { image: img, ports: [{ container: 80, host: 18080 }] },
    },
  });
  const r = await cli([
    'run',
    '--once',
    '--target-file',
    h.targetFile,
    '--state-dir',
    h.stateDir,
    '--agent-id',
    h.agentId,
    '--name-prefix',
    h.prefix,
  ]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /host port 18080\/tcp is published by more than one service: 'api' and 'web'/);
  assert.deepEqual(await h.owned(), []);
});

test('a half-written lock file is exit 2 with a message, not a stack trace; a stale lock is taken over, logged, and cleaned up', async (t) => {
  const h = await harness('lockfile');
  t.after(() => h.cleanup());
  await h.writeTarget({ services: { web: { image: `${h.registry}/lab/busybox:1`, command: ['sleep', '3600'] } } });
  const args = [
    'run',
    '--once',
    '--log-json',
    '--target-file',
    h.targetFile,
    '--state-dir',
    h.stateDir,
    '--agent-id',
    h.agentId,
    '--name-prefix',
    h.prefix,
  ];
  const lock = join(h.stateDir, 'agent.lock');

  // Half-written, and its writer still at it (it keeps touching the file): whichever moment the agent looks,
  // the file is too young to be a crashed writer's leftover.
  await writeFile(lock, '{"pid":12');
  const toucher = setInterval(() => void utimes(lock, new Date(), new Date()).catch(() => {}), 100);
  const half = await cli(args).finally(() => clearInterval(toucher));
  assert.equal(half.code, 2, half.stderr);
  assert.match(half.stderr, /being written by another process/);
  assert.doesNotMatch(half.stderr, /\n\s+at /, 'no stack trace');

  // A lock whose process is gone.
  const dead = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => dead.once('exit', r));
  await writeFile(
    lock,
    JSON.stringify({
      pid: dead.pid,
      startTime: null,
      hostname: (await import('node:os')).hostname(),
      nonce: 'old',
      acquiredAt: '2020-01-01T00:00:00.000Z',
    }),
  );
  await sleep(10);
  const stale = await cli(args);
  assert.equal(stale.code, 0, stale.stderr + stale.stdout);
  const lines = stale.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { msg: string; previousPid?: number; reason?: string });
  const took = lines.find((l) => /stale state directory lock taken over/.test(l.msg));
  assert.ok(took, 'the takeover is logged');
  assert.equal(took.previousPid, dead.pid);
  assert.match(took.reason!, /not running/);
  assert.equal(existsSync(`${lock}.stale`), false, 'agent.lock.stale removed');
  assert.equal(existsSync(lock), false, 'released at exit');
});
