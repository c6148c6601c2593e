/**
 * Scenario 3 (seeds 000/004): repeated command failures on a device open its circuit; operator commands then
 * answer 503 circuit_open (with Retry-After) without reaching the device; `fleetmedic circuit reset` closes
 * it and commands flow again. A real agent executes (and fails) the commands on the lab engine.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HTTPD_CMD } from '../support/engine-lab.js';
import { startE2e, waitFor, withLogsOnFailure, type E2e } from './support/e2e.js';

let e2e: E2e;
before(async () => {
  e2e = await startE2e('circuit'); // CIRCUIT_FAILURE_THRESHOLD=3 (E2E_FLEET_ENV)
  await e2e.register('gw-1');
  await e2e.setTarget('gw-1', { services: { web: { image: e2e.image('1'), command: HTTPD_CMD } } });
  await e2e.startAgent('gw-1');
  await waitFor(
    'web running',
    async () => (await e2e.cliJson('device', 'gw-1')).services.find((s: any) => s.name === 'web')?.status === 'running',
    90_000,
    500,
  );
});
after(() => e2e?.close());

test('three failed commands open the circuit; commands get 503 circuit_open; circuit reset closes it', () =>
  withLogsOnFailure(e2e, async () => {
    const jobIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const job = await e2e.cliJson('jobs', 'enqueue', 'gw-1', 'pull-image', '--image', e2e.image(`no-such-tag-${i}`));
      jobIds.push(job.jobId);
    }
    // The agent runs each pull, the registry has no such tag, each attempt is reported FAILED.
    const opened = await waitFor(
      'circuit open',
      async () => {
        const d = await e2e.cliJson('device', 'gw-1');
        return d.circuit.state === 'open' ? d : undefined;
      },
      90_000,
      500,
    );
    assert.equal(opened.circuit.consecutiveFailures >= 3, true, JSON.stringify(opened.circuit));
    for (const id of jobIds) {
      const j = await e2e.cliJson('jobs', id);
      assert.ok(
        j.history.some((h: any) => h.status === 'FAILED' && h.by === 'gw-1'),
        `${id} failed on the device: ${JSON.stringify(j.history)}`,
      );
    }
    const events = await e2e.cliJson('events', '--device', 'gw-1', '--type', 'circuit.opened');
    assert.equal(events.events.length, 1, 'exactly one closed→open transition');
    const failedEvents = await e2e.cliJson('events', '--device', 'gw-1', '--type', 'command.failed');
    assert.ok(failedEvents.events.length >= 3);
    assert.match((await e2e.cli('devices')).stdout, /gw-1\s+\S+\s+open, probe in \S+/);

    // While open: the operator's command is refused without touching the device.
    const refused = await e2e.cli('--json', 'jobs', 'enqueue', 'gw-1', 'restart-service', '--service', 'web');
    assert.equal(refused.code, 1);
    const err = JSON.parse(refused.stderr);
    assert.equal(err.error, 'circuit_open');
    assert.equal(err.status, 503);
    assert.ok(err.details.retryAfterSeconds > 0, 'a Retry-After came with it');
    const human = await e2e.cli('jobs', 'enqueue', 'gw-1', 'restart-service', '--service', 'web');
    assert.equal(human.code, 1);
    assert.match(human.stderr, /retry after \d+ s/);

    const reset = await e2e.cli('circuit', 'reset', 'gw-1');
    assert.equal(reset.code, 0, reset.stderr);
    assert.match(reset.stdout, /Circuit of gw-1 is now closed/);
    assert.equal((await e2e.cliJson('device', 'gw-1')).circuit.state, 'closed');
    assert.equal((await e2e.cliJson('events', '--device', 'gw-1', '--type', 'circuit.reset')).events.length, 1);

    // Commands flow again, and this one works on the device.
    const ok = await e2e.cli('jobs', 'enqueue', 'gw-1', 'restart-service', '--service', 'web', '--wait', '60');
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    assert.match(ok.stdout, /SUCCEEDED/);
  }));
