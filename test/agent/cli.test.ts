/**
 * `fleetmedic-agent` as a process (bin/fleetmedic-agent.js): exit codes, SIGTERM shutdown, status, manual
 * stop/start markers, dry run. Against the real engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { harness, waitFor } from './support/agent-harness.js';
import { readHealthFile } from '../../agent/src/output/health-file.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'fleetmedic-agent.js');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: string[]): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, FLEETMEDIC_AGENT_FROM_SOURCE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<Run>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}
const cli = (args: string[]) => start(args).done;

test('exit codes: 2 for bad flags, an invalid target file, a locked state dir; 1 for a cycle that did not converge; 0 when converged', async (t) => {
  const h = await harness('cli');
  t.after(() => h.cleanup());
  const common = ['--state-dir', h.stateDir, '--agent-id', h.agentId, '--name-prefix', h.prefix];

  assert.equal((await cli(['run', '--bogus'])).code, 2);
  assert.equal((await cli(['run', '--once', ...common])).code, 2, 'no target source');

  await writeFile(h.targetFile, JSON.stringify({ services: { web: { image: 'x', dependsOn: ['nope'] } } }));
  const invalid = await cli(['run', '--once', '--target-file', h.targetFile, ...common]);
  assert.equal(invalid.code, 2);
  assert.match(invalid.stderr, /unknown dependency 'nope'/);

  await h.writeTarget({ services: { web: { image: `${h.registry}/lab/busybox:1`, command: ['sleep', '3600'] } } });
  const ok = await cli(['run', '--once', '--log-json', '--target-file', h.targetFile, ...common]);
  assert.equal(ok.code, 0, ok.stderr + ok.stdout);
  const lines = ok.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { msg: string });
  assert.ok(
    lines.some((l) => l.msg === 'reconcile cycle done'),
    'JSON log lines',
  );
  const status = await cli(['status', '--state-dir', h.stateDir]);
  assert.equal(status.code, 0);
  assert.match(status.stdout, /web\s+running/);

  await h.writeTarget({
    services: {
      web: { image: `${h.registry}/lab/busybox:1`, command: ['sleep', '3600'] },
      bad: { image: `${h.registry}/lab/busybox:missing` },
    },
  });
  const failed = await cli(['run', '--once', '--target-file', h.targetFile, ...common]);
  assert.equal(failed.code, 1);
  assert.match(failed.stdout, /WARN +pullImage failed; continuing/, 'readable log lines without --log-json');
  const st = await cli(['status', '--state-dir', h.stateDir]);
  assert.equal(st.code, 1);
  assert.match(st.stdout, /bad\s+error\s+restarts 0\s+ImagePullBackOff \(permanent\)/);

  // Locked: an agent runs on this state dir.
  const agent = await h.open();
  const locked = await cli(['run', '--once', '--target-file', h.targetFile, ...common]);
  assert.equal(locked.code, 2);
  assert.match(locked.stderr, /locked by pid \d+/);
  await agent.stop();
});

test('dry run plans without changing anything', async (t) => {
  const h = await harness('dry');
  t.after(() => h.cleanup());
  await h.writeTarget({ services: { web: { image: `${h.registry}/lab/busybox:1`, command: ['sleep', '3600'] } } });
  const r = await cli([
    'run',
    '--once',
    '--dry-run',
    '--log-json',
    '--target-file',
    h.targetFile,
    '--state-dir',
    h.stateDir,
    '--agent-id',
    h.agentId,
    '--name-prefix',
    h.prefix,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const plan = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .find((l) => /dry run/.test(l.msg));
  assert.deepEqual(
    plan.steps.filter((s: string) => !s.startsWith('pull')),
    ['create web (no container)', 'start web (new container)'],
  );
  assert.deepEqual(await h.owned(), []);
  assert.deepEqual(await readdir(h.stateDir), [], 'no state written, no lock taken');
});

test('SIGTERM: clean shutdown (exit 0, lock released, no temp files); stop/start markers while the agent runs', async (t) => {
  const h = await harness('sig');
  t.after(() => h.cleanup());
  await h.writeTarget({
    services: { web: { image: `${h.registry}/lab/busybox:1`, command: ['httpd', '-f', '-p', '8080'] } },
  });
  const common = ['--state-dir', h.stateDir, '--agent-id', h.agentId, '--name-prefix', h.prefix];
  const { child, done } = start(['run', '--interval', '30', '--target-file', h.targetFile, ...common]);
  t.after(() => child.kill('SIGKILL'));
  await waitFor(
    'health.json of the first cycle',
    async () => existsSync(h.config.healthFile) && (await readHealthFile(h.config.healthFile)).success,
    20_000,
  );
  const [web] = await h.byService('web');
  assert.equal(web!.State, 'running');

  // stop: the marker is set and the container stopped; the agent (nudged by a request file) leaves it alone.
  const stop = await cli(['stop', 'web', '--reason', 'maintenance', ...common]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(stop.stdout, /marker set, 1 container\(s\) stopped/);
  await waitFor('a cycle that reports web manually stopped', async () => {
    const hf = await readHealthFile(h.config.healthFile);
    return hf.services.find((s) => s.name === 'web')?.status === 'manually-stopped';
  });
  assert.notEqual((await h.docker.getContainer(web!.Id).inspect()).State.Running, true, 'not restarted while marked');
  const marker = JSON.parse(await readFile(join(h.stateDir, 'manual-stop', 'web.stopped'), 'utf8'));
  assert.equal(marker.reason, 'maintenance');

  // start: the marker goes and the agent brings the service back at once (a request file, not the 30 s interval).
  const t0 = Date.now();
  assert.equal((await cli(['start', 'web', ...common])).code, 0);
  await waitFor('web running again', async () => (await h.docker.getContainer(web!.Id).inspect()).State.Running);
  assert.ok(Date.now() - t0 < 15_000);
  await waitFor('health.json: web running, the manual stop/start not counted as a restart', async () => {
    const s = (await readHealthFile(h.config.healthFile)).services.find((x) => x.name === 'web');
    return s?.status === 'running' && s.restartCount === 0;
  });

  child.kill('SIGTERM');
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /agent stopped/);
  const files = await readdir(h.stateDir);
  assert.ok(!files.includes('agent.lock'), 'lock released');
  assert.deepEqual(
    files.filter((f) => f.endsWith('.tmp')),
    [],
    'no half-written files',
  );
  assert.equal((await readHealthFile(h.config.healthFile)).format, 'fleetmedic-agent-health/1');
});
