/**
 * A full state filesystem (docs/architecture.md, "Agent state directory"): the agent keeps running, reports the
 * failed saves in health.json and the metrics, and saves what it could not once there is room again: the
 * target adopted meanwhile, the restart counts and the recovery history survive a later agent restart.
 * The state dir is a small tmpfs the test mounts (the machine's tests run as root) and fills.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readHealthFile } from '../../agent/src/output/health-file.js';
import { RecoveryModule } from '../../agent/src/recovery/module.js';
import { harness, waitFor } from './support/agent-harness.js';

/** Appends to `path` until the filesystem says ENOSPC. */
async function fill(path: string): Promise<void> {
  const fh = await open(path, 'a');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) await fh.write(chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await fh.close();
  }
}

const storeData = async (dir: string, name: string) =>
  (JSON.parse(await readFile(join(dir, `${name}.json`), 'utf8')) as { data: unknown }).data;

test('full disk: saves that failed are reported, retried, and land once there is room; nothing is lost across a restart', async (t) => {
  const h = await harness('fulldisk');
  const outDir = await mkdtemp(join(tmpdir(), 'fm-fulldisk-out-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=0700', 'tmpfs', h.stateDir], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(
      `this test mounts a tmpfs as its full disk and needs root (or CAP_SYS_ADMIN): ${(err as Error).message}`,
    );
  }
  t.after(async () => {
    await h.cleanup().catch(() => {});
    execFileSync('umount', ['-l', h.stateDir]);
    await rm(h.stateDir, { recursive: true, force: true });
    await rm(outDir, { recursive: true, force: true });
  });
  const image = `${h.registry}/lab/busybox:1`;
  const outputs = { healthFile: join(outDir, 'health.json'), metricsFile: join(outDir, 'agent.prom') };
  await h.writeTarget({ version: 'v1', target: { services: { web: { image, command: ['sleep', '3600'] } } } });
  let recovery = new RecoveryModule({ defaultStartupDelayMs: 500, events: false });
  let agent = await h.open(outputs, [recovery]);
  await agent.start();
  assert.equal((await agent.reconcileNow()).success, true);

  const filler = join(h.stateDir, 'filler');
  await fill(filler);

  // While full: a new target is adopted and applied, and a killed container is restarted by recovery.
  await h.writeTarget({
    version: 'v2',
    target: { services: { web: { image, command: ['sleep', '3600'], env: { V: '2' } } } },
  });
  const r2 = await agent.reconcileNow();
  assert.equal(r2.targetVersion, 'v2');
  const [c] = (await h.byService('web')).filter((x) => x.State === 'running');
  await h.docker.getContainer(c!.Id).kill();
  await waitFor(
    'recovery restarted web',
    async () => {
      await agent.reconcileNow();
      return (
        recovery.controller.history.some((a) => a.ok) && (await h.byService('web')).some((x) => x.State === 'running')
      );
    },
    30_000,
    200,
  );
  await agent.reconcileNow();

  const hf = await readHealthFile(outputs.healthFile);
  assert.equal(hf.state.saving, 'failing');
  const failing = hf.state.failures.map((f) => f.store).sort();
  for (const store of ['recovery', 'services', 'target'])
    assert.ok(failing.includes(store), `${store} reported as not saved: ${failing.join(', ')}`);
  assert.match(hf.state.failures[0]!.message, /ENOSPC|no space/i);
  assert.ok(hf.errors.some((e) => e.type === 'StateSaveFailed'));
  const prom = await readFile(outputs.metricsFile, 'utf8');
  assert.match(prom, /fleetmedic_agent_state_save_failing\{agent="[^"]+",store="target"\} 1/);
  assert.match(prom, /fleetmedic_agent_state_save_failures_total\{agent="[^"]+"\} [1-9]/);
  assert.equal(
    ((await storeData(h.stateDir, 'target')) as { version: string }).version,
    'v1',
    'not saved yet (the disk is full)',
  );

  // Room again: the next cycle saves everything that was pending.
  await rm(filler);
  await agent.reconcileNow();
  assert.equal(
    ((await storeData(h.stateDir, 'target')) as { version: string }).version,
    'v2',
    'the target adopted while full is saved',
  );
  const counts = (await storeData(h.stateDir, 'services')) as { restartCounts: Record<string, number> };
  assert.ok((counts.restartCounts.web ?? 0) >= 1, `restart count saved: ${JSON.stringify(counts)}`);
  const rec = (await storeData(h.stateDir, 'recovery')) as {
    services: Record<string, { totalRestarts: number; recentAgesMs: number[] }>;
  };
  assert.ok(
    (rec.services.web?.totalRestarts ?? 0) >= 1 && rec.services.web!.recentAgesMs.length >= 1,
    `recovery history saved: ${JSON.stringify(rec)}`,
  );
  const hf2 = await readHealthFile(outputs.healthFile);
  assert.equal(hf2.state.saving, 'ok');
  assert.deepEqual(hf2.state.failures, []);
  assert.doesNotMatch(await readFile(outputs.metricsFile, 'utf8'), /fleetmedic_agent_state_save_failing\{/);

  // A restarted agent has the counts and the rate-limit history of the full-disk period.
  const restarts = agent.reports().find((s) => s.name === 'web')!.restartCount;
  await agent.stop();
  recovery = new RecoveryModule({ defaultStartupDelayMs: 500, events: false });
  agent = await h.open(outputs, [recovery]);
  await agent.start();
  assert.equal(agent.currentTarget()?.version, 'v2');
  assert.equal(agent.reports().find((s) => s.name === 'web')!.restartCount, restarts);
  assert.ok(recovery.controller.policy.state('web').recent.length >= 1, 'the rate-limit history survived');
});
