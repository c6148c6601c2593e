/**
 * The whole agent as a process (bin/fleetmedic-agent.js run --api-url/--device-id/--token-file) against a
 * real HTTP API (test/support/fake-api-server.ts) and the real engine: the cloud target is converged, jobs
 * run, and an agent killed (SIGKILL) in the middle of a job does not execute it a second time after its
 * restart, and leaves no duplicate containers.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type Docker from 'dockerode';
import { listOwnedContainers } from '../../agent/src/engine/observe.js';
import { requireEngine } from '../support/engine.js';
import { labImage, removeLabContainers, uniqueAgentId, waitFor } from '../support/engine-lab.js';
import { startFakeApi, type FakeApi } from '../support/fake-api-server.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'fleetmedic-agent.js');

interface AgentProc {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

function spawnAgent(args: string[], env: Record<string, string>): AgentProc {
  const child = spawn(process.execPath, [BIN, 'run', '--log-json', ...args], {
    env: { ...process.env, FLEETMEDIC_AGENT_FROM_SOURCE: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        /* not a log line */
      }
    }
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) =>
    child.on('exit', (code) => {
      if (code && code !== 0 && process.env.B2_DEBUG) process.stderr.write(stderr);
      r(code);
    }),
  );
  return { child, lines, exited };
}

/** Fast cloud timings for the test; the rules are the production ones. */
const FAST = {
  FLEETMEDIC_JOB_POLL_SECONDS: '0.3',
  FLEETMEDIC_TARGET_POLL_SECONDS: '0.5',
  FLEETMEDIC_REPORT_MIN_INTERVAL_SECONDS: '0.3',
  FLEETMEDIC_HEARTBEAT_SECONDS: '2',
  FLEETMEDIC_RECONNECT_JITTER_SECONDS: '0.2',
  FLEETMEDIC_PROBE_MAX_SECONDS: '1',
};

describe('agent process ⇄ cloud API ⇄ engine', () => {
  let docker: Docker;
  let api: FakeApi;
  let dir: string;
  const agentId = uniqueAgentId('cloudagent');
  const procs: AgentProc[] = [];
  let args: string[];

  before(async () => {
    docker = await requireEngine();
    api = await startFakeApi({ deviceId: 'dev-cloud-agent' });
    dir = await mkdtemp(join(tmpdir(), 'fm-cloud-agent-'));
    await writeFile(join(dir, 'token'), `${api.token}\n`, { mode: 0o600 });
    args = [
      '--api-url',
      api.url,
      '--device-id',
      api.deviceId,
      '--token-file',
      join(dir, 'token'),
      '--state-dir',
      join(dir, 'state'),
      '--agent-id',
      agentId,
      '--name-prefix',
      `${agentId}_`,
    ];
  });
  after(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await api?.close();
    if (docker) await removeLabContainers(docker, agentId);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const owned = (service: string) =>
    listOwnedContainers(docker, agentId).then((cs) => cs.filter((c) => c.service === service));

  test('agent killed mid-job and restarted: the job is not executed twice; no duplicate containers', async () => {
    // `sleep` as PID 1 ignores SIGTERM: a restart waits the engine's stop timeout (10 s), a wide window to die in.
    api.setTarget({
      services: {
        slow: { image: labImage(), command: ['sleep', '3600'] },
        web: { image: labImage(), command: ['httpd', '-f', '-p', '8080'] },
      },
    });
    const a1 = spawnAgent(args, FAST);
    procs.push(a1);
    await waitFor(
      'both services running',
      async () => (await owned('slow'))[0]?.state === 'running' && (await owned('web'))[0]?.state === 'running',
      60_000,
    );
    await waitFor(
      'a full report showing them',
      () => api.stored.some((r) => r.kind === 'full' && r.services.filter((s) => s.status === 'running').length === 2),
      20_000,
    );
    const [slow] = await owned('slow');

    const job = api.enqueue('restart-service', { service: 'slow', reason: 'test' });
    await waitFor(
      'IN_PROGRESS accepted',
      () => api.jobUpdates.some((u) => u.jobId === job.jobId && u.status === 'IN_PROGRESS' && u.answer === 200),
      20_000,
    );
    await waitFor('claimed in the journal (the restart is under way)', async () => {
      const j = JSON.parse(await readFile(join(dir, 'state', 'job-journal.json'), 'utf8')) as {
        data: { entries: Array<{ jobId: string; state: string }> };
      };
      return j.data.entries.some((e) => e.jobId === job.jobId && e.state === 'claimed');
    });
    a1.child.kill('SIGKILL');
    await a1.exited;
    assert.ok(!a1.lines.some((l) => l.msg === 'job executed'), 'the first agent died before finishing the job');

    const a2 = spawnAgent(args, FAST);
    procs.push(a2);
    await waitFor('job terminal', () => ['FAILED', 'SUCCEEDED'].includes(api.jobs.get(job.jobId)!.status), 30_000);
    const final = api.jobs.get(job.jobId)!;
    assert.equal(final.status, 'FAILED');
    assert.equal(final.statusDetails?.reason, 'agent restarted mid-job');
    assert.ok(a2.lines.some((l) => /interrupted by an agent restart/.test(String(l.msg))));
    assert.ok(
      !a2.lines.some((l) => l.msg === 'job executed' && l.jobId === job.jobId),
      'the second agent did not execute it',
    );
    const updates = api.jobUpdates.filter((u) => u.jobId === job.jobId && u.answer === 200).map((u) => u.status);
    assert.deepEqual(updates, ['IN_PROGRESS', 'FAILED'], 'one execution claimed, one outcome');

    // The agent that came back adopted what was there: one container per service, the same `slow` container.
    await waitFor(
      'services running again',
      async () => (await owned('slow'))[0]?.state === 'running' && (await owned('web'))[0]?.state === 'running',
      30_000,
    );
    assert.equal((await owned('slow')).length, 1, 'no duplicate container');
    assert.equal((await owned('web')).length, 1, 'no duplicate container');
    assert.equal((await owned('slow'))[0]!.id, slow!.id, 'adopted, not recreated');

    // And it keeps working: the next job runs once and succeeds.
    const job2 = api.enqueue('run-health-check', {});
    await waitFor('job2 done', () => api.jobs.get(job2.jobId)!.status === 'SUCCEEDED', 20_000);
    const details = api.jobs.get(job2.jobId)!.statusDetails!;
    assert.equal(details.web, true, JSON.stringify(details));
    assert.equal(typeof details.slow, 'boolean', 'every service checked'); // `slow` may still be finishing the engine-side restart
  });

  test('the API going away does not stop or restart the agent; reports resume in order', async () => {
    const a = procs.at(-1)!;
    const before = api.stored.length;
    const [web] = await owned('web');
    await api.goDown('refuse');
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(a.child.exitCode, null, 'still running');
    assert.equal((await owned('web'))[0]!.id, web!.id, 'containers untouched');
    await api.comeBack();
    await waitFor('reports again', () => api.stored.length > before + 1, 20_000);
    const seqs = api.stored.map((r) => r.seq);
    for (let i = 1; i < seqs.length; i++)
      assert.ok(seqs[i]! > seqs[i - 1]!, 'strictly increasing across the agent restart and the outage');
    a.child.kill('SIGTERM');
    assert.equal(await a.exited, 0, 'clean shutdown');
  });
});
