/**
 * The artifact a device runs: the esbuild bundle (agent/build.ts) under the systemd unit's node flags. The other
 * agent tests run the TypeScript sources; this one catches what only bundling can break (a stubbed module that
 * turns out to be needed, a dependency that does not survive minification, a missing require shim).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { buildAgent } from '../../agent/build.js';
import { AGENT_NODE_FLAGS } from '../../agent/src/node-flags.js';
import { harness } from './support/agent-harness.js';

function node(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('the bundled agent converges a target on the engine and reports its status, with and without the unit flags', async (t) => {
  const h = await harness('bundle');
  t.after(() => h.cleanup());
  const bundle = await buildAgent(join(h.stateDir, '..', `${h.agentId}-agent.mjs`));
  const common = ['--state-dir', h.stateDir, '--agent-id', h.agentId, '--name-prefix', h.prefix];

  const version = await node([...AGENT_NODE_FLAGS, bundle, '--version']);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /^\d+\.\d+\.\d+/);

  await h.writeTarget({ services: { web: { image: `${h.registry}/lab/busybox:1`, command: ['sleep', '3600'] } } });
  const once = await node([
    ...AGENT_NODE_FLAGS,
    bundle,
    'run',
    '--once',
    '--log-json',
    '--target-file',
    h.targetFile,
    ...common,
  ]);
  assert.equal(once.code, 0, once.stderr + once.stdout);
  const running = (await h.byService('web')).filter((c) => c.State === 'running');
  assert.equal(running.length, 1, 'one running container for web');

  // Started without the flags (e.g. `npx fleetmedic-agent`), the agent sets them itself and behaves the same.
  await h.writeTarget({ services: { web: { image: `${h.registry}/lab/busybox:2`, command: ['sleep', '3600'] } } });
  const plain = await node([bundle, 'run', '--once', '--target-file', h.targetFile, ...common]);
  assert.equal(plain.code, 0, plain.stderr + plain.stdout);
  const web = await h.byService('web');
  assert.equal(web.length, 1, 'replaced, not duplicated');
  assert.equal(web[0]!.Image, `${h.registry}/lab/busybox:2`);

  const status = await node([bundle, 'status', '--state-dir', h.stateDir]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /web\s+running/);
});
