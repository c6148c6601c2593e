/**
 * One correlation id, device to Slack (docs/architecture.md, "Correlation id"): a real agent reports a running but
 * unhealthy service; the report's intake enqueues a cloud recovery job under that report request's id; the job
 * goes through the outbox, the queue and the dispatcher to the agent, which runs it under the same id (its log
 * lines and its job updates carry it); the restart fails on the engine, the failure opens the device's circuit
 * (threshold 1 here) and the CircuitOpen alert reaches the Slack receiver with the same id.
 *
 * The restart fails for real: the service runs a copy of busybox from a volume and deletes that copy once
 * started, so the running process lives on but the engine cannot start the container again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startE2e, withLogsOnFailure, type AgentProcess, type E2e } from './support/e2e.js';

let e2e: E2e;
let agent: AgentProcess;
const volume = `fm-e2e-corr-${randomBytes(3).toString('hex')}`;

before(async () => {
  e2e = await startE2e('correlation', { env: { CIRCUIT_FAILURE_THRESHOLD: '1' } });
  // The volume holds the service's own shell; the service removes it once it runs (see above).
  const seed = await e2e.docker.createContainer({
    Image: e2e.image('1'),
    Cmd: ['cp', '/bin/busybox', '/data/sh'],
    HostConfig: { Binds: [`${volume}:/data`] },
  });
  await seed.start();
  await seed.wait();
  await seed.remove({ force: true });
  await e2e.register('edge-c');
  await e2e.setTarget('edge-c', {
    services: {
      app: {
        image: e2e.image('1'),
        command: ['/data/sh', '-c', 'rm -f /data/sh; trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'],
        volumes: [{ source: volume, target: '/data' }],
        // Nothing listens on 8080: the check always fails. The agent would restart the service itself only after
        // 100 failures; the cloud finds it unhealthy after 3 and recovers it first.
        healthCheck: {
          kind: 'http',
          port: 8080,
          path: '/',
          intervalSeconds: 1,
          timeoutSeconds: 1,
          failureThreshold: 100,
          startupDelaySeconds: 1,
        },
      },
    },
    rollbackWindowSeconds: 3600,
  });
  agent = await e2e.startAgent('edge-c');
});
after(async () => {
  await e2e?.close();
  await e2e?.docker
    .getVolume(volume)
    .remove({ force: true })
    .catch(() => {});
});

test('one correlation id from the device report through API, queue and job to the Slack alert', () =>
  withLogsOnFailure(e2e, async () => {
    const alert = await e2e.fleet.slack!.waitFor((m) => /edge-c/.test(m.text) && /circuit/i.test(m.text), 120_000);
    const id = /correlation `?([\w-]+)/i.exec(alert.text)?.[1];
    assert.ok(id, `the alert names its correlation id: ${alert.text}`);

    // The cloud's record: the recovery job was enqueued by the report's intake under this id...
    const enqueued = await e2e.cliJson('events', '--device', 'edge-c', '--type', 'recovery.enqueued');
    const first = enqueued.events.find((e: any) => e.correlationId === id);
    assert.ok(first, `a recovery.enqueued event with ${id}: ${JSON.stringify(enqueued.events)}`);
    const jobId = first.detail.jobId;
    const job = await e2e.cliJson('jobs', jobId);
    assert.equal(job.correlationId, id);
    assert.equal(job.type, 'restart-service');
    assert.ok(
      job.history.some((h: any) => h.status === 'FAILED' && h.by === 'edge-c'),
      `the device ran the job and it failed: ${JSON.stringify(job.history)}`,
    );
    // ...and the job's failure and the circuit's opening were recorded under it.
    const failed = await e2e.cliJson('events', '--device', 'edge-c', '--type', 'command.failed');
    assert.ok(failed.events.some((e: any) => e.correlationId === id && e.detail?.jobId === jobId));
    const opened = await e2e.cliJson('events', '--device', 'edge-c', '--type', 'circuit.opened');
    assert.ok(opened.events.some((e: any) => e.correlationId === id));

    // The device's side: the report request that started it, and the job's own lines, all carry the id.
    const lines = agent.logs.filter((l) => l.includes(`correlationId=${id}`));
    // The report that started it went with the id, before the job ran. (A report the job's own restart queues
    // while the job runs carries the job's id too: it is the job's doing.)
    const firstDelivered = lines.findIndex((l) => /report delivered/.test(l));
    const executed = lines.findIndex((l) => /job executed/.test(l));
    assert.ok(
      firstDelivered >= 0 && executed >= 0 && firstDelivered < executed,
      `the agent delivered the report with the id before it ran the job:\n${lines.join('\n')}`,
    );
    const jobLines = lines.filter((l) => l.includes(jobId));
    assert.ok(
      jobLines.some((l) => /job executed/.test(l) && /status=FAILED/.test(l)),
      `the agent's line for the job carries the id:\n${lines.join('\n')}`,
    );
    assert.ok(
      lines.some((l) => /recovery action failed/.test(l) && /requested by a job|action=restart/.test(l)),
      `the failed restart the job asked for is logged under the id:\n${lines.join('\n')}`,
    );
  }));
