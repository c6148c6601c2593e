/**
 * The recovery ladder survives `kill -9` (docs/architecture.md, "Agent state directory": the `recovery`
 * store): an agent killed while its restart of a failing service is being verified is followed by one that
 * continues with `recreate`, not one that starts over at `restart`. Real engine, real process, SIGKILL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RecoveryModule } from '../../agent/src/recovery/module.js';
import { harness, waitFor } from './support/agent-harness.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'fleetmedic-agent.js');

test('kill -9 while a restart is being verified: the next agent continues the ladder with recreate', async (t) => {
  const h = await harness('ladderkill');
  t.after(() => h.cleanup());
  // Runs, but never answers on 8080: unhealthy from its first check. The startup delay is the window between
  // the restart and its re-check, when the kill lands.
  const check = {
    kind: 'tcp' as const,
    port: 8080,
    intervalSeconds: 1,
    timeoutSeconds: 1,
    failureThreshold: 1,
    startupDelaySeconds: 5,
  };
  await h.writeTarget({
    services: { web: { image: `${h.registry}/lab/busybox:1`, command: ['sleep', '3600'], healthCheck: check } },
  });
  const first = spawn(
    process.execPath,
    [
      BIN,
      'run',
      '--log-json',
      '--target-file',
      h.targetFile,
      '--state-dir',
      h.stateDir,
      '--agent-id',
      h.agentId,
      '--name-prefix',
      h.prefix,
    ],
    {
      env: { ...process.env, FLEETMEDIC_AGENT_FROM_SOURCE: '1', FLEETMEDIC_ENGINE_EVENTS: '0' },
      stdio: 'ignore',
    },
  );
  const exited = new Promise((r) => first.once('exit', r));
  t.after(() => void first.kill('SIGKILL'));
  const recoveryFile = join(h.stateDir, 'recovery.json');
  const saved = async () => {
    const doc = JSON.parse(await readFile(recoveryFile, 'utf8')) as {
      data: { services: Record<string, { attempted: string[]; verifying?: boolean }> };
    };
    return doc.data.services.web;
  };
  await waitFor(
    'the first agent restarted web and is verifying it',
    async () => {
      const w = await saved().catch(() => undefined);
      return w?.attempted.includes('restart') ? w : undefined;
    },
    60_000,
    50,
  );
  first.kill('SIGKILL');
  await exited;
  const before = await saved();
  assert.ok(before, 'the recovery state was on disk before the kill');

  const recovery = new RecoveryModule({ events: false });
  const agent = await h.open({ intervalMs: 1000 }, [recovery]);
  await agent.start();
  const next = await waitFor('the next recovery action', async () => recovery.controller.history[0], 60_000, 100);
  const climbed = before.attempted.at(-1) === 'restart' ? 'recreate' : 'repull';
  assert.equal(
    next.action,
    climbed,
    `continues the ladder after ${JSON.stringify(before.attempted)} instead of starting over`,
  );
});
