/**
 * Offline retry-now (README, agent commands): `fleetmedic-agent retry <service>` and SIGHUP skip the waits
 * the agent would otherwise sit out. A crash-looping service is in CrashLoopBackOff until its 5-minute rate
 * limit window has room; a retry (and a SIGHUP) brings a recovery action within seconds instead. The agent is
 * the real process on the real engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { readHealthFile } from '../../agent/src/output/health-file.js';
import { harness, waitFor } from './support/agent-harness.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'fleetmedic-agent.js');
// One recovery action per 5-minute window instead of three: the service is in CrashLoopBackOff after its first
// restart, which is all this test needs (what it checks is that a retry ends that wait, not how it is reached).
const ENV = { ...process.env, FLEETMEDIC_AGENT_FROM_SOURCE: '1', FLEETMEDIC_RECOVERY_MAX_RESTARTS: '1' };

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

test('retry <service> and SIGHUP end a CrashLoopBackOff wait at once; retry without a running agent waits for it', async (t) => {
  const h = await harness('retrynow');
  t.after(() => h.cleanup());
  const common = ['--state-dir', h.stateDir, '--agent-id', h.agentId, '--name-prefix', h.prefix];
  await h.writeTarget({
    services: { app: { image: `${h.registry}/lab/busybox:1`, command: ['sh', '-c', 'sleep 1; exit 3'] } },
  });

  const bad = await cli(['retry', 'Not A Name', ...common]);
  assert.equal(bad.code, 2);
  const early = await cli(['retry', 'app', ...common]);
  assert.equal(early.code, 0, early.stderr);
  assert.match(early.stdout, /no agent is running/);

  const agent = spawn(process.execPath, [BIN, 'run', '--log-json', '--target-file', h.targetFile, ...common], {
    env: ENV,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let log = '';
  agent.stdout.on('data', (d) => (log += d));
  const exited = new Promise((r) => agent.once('exit', r));
  t.after(async () => {
    if (agent.exitCode === null) agent.kill('SIGKILL');
    await exited;
  });
  const health = () => readHealthFile(join(h.stateDir, 'health.json'));
  const app = async () => (await health()).services.find((s) => s.name === 'app');
  const retryLines = () => log.split('\n').filter((l) => l.includes('"msg":"retry now"'));
  await waitFor(
    'the request written while no agent ran is taken at start',
    async () => retryLines().some((l) => l.includes('"reason":"retry-requested"')),
    60_000,
    100,
  );

  const crashLoop = async () => {
    const a = await app().catch(() => undefined);
    return a?.error?.type === 'CrashLoopBackOff' ? a : undefined;
  };
  const looping = await waitFor('CrashLoopBackOff', crashLoop, 120_000, 200);
  assert.ok(
    Date.parse(looping.error!.nextRetry!) - Date.now() > 60_000,
    'the rate limit would keep it waiting for minutes',
  );

  // retry <service>: the running agent acts within seconds, far from the minutes it would wait.
  const r = await cli(['retry', 'app', ...common]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`agent \\(pid ${agent.pid}\\) retries it now`));
  await waitFor(
    'a recovery action after the retry',
    async () => ((await app())?.restartCount ?? 0) > looping.restartCount,
    60_000,
    200,
  );
  assert.ok(retryLines().some((l) => l.includes('"service":"app"') && l.includes('"reason":"retry-requested"')));

  // SIGHUP: the same for every service, once it is back in CrashLoopBackOff.
  const again = await waitFor(
    'CrashLoopBackOff again',
    async () => {
      const a = await crashLoop();
      return a && a.restartCount > looping.restartCount ? a : undefined;
    },
    120_000,
    200,
  );
  agent.kill('SIGHUP');
  await waitFor(
    'a recovery action after SIGHUP',
    async () => ((await app())?.restartCount ?? 0) > again.restartCount,
    60_000,
    200,
  );
  assert.ok(retryLines().some((l) => l.includes('"service":"*"') && l.includes('"reason":"sighup"')));
  assert.equal(agent.exitCode, null, 'SIGHUP does not end the agent');

  agent.kill('SIGTERM');
  await exited;
  assert.equal(agent.exitCode, 0);
});
