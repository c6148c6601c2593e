/**
 * Fleet rollouts through the whole system (docs/architecture.md "Rollouts"), two real agents on the lab engine:
 *   - a good target rolled out by label reaches both devices, canary then wave, each promoted by its agent's
 *     health window, and the rollout completes with both succeeded;
 *   - a target whose image tag does not exist aborts after the canary: the canary's agent rolls back, the cloud
 *     gives it its previous target back, the second device is never touched, and on-call hears it exactly once.
 * The clocks are the local fleet's scaled ones (support/e2e.ts: the rollout-controller runs every second, stages
 * are spaced a second apart); the targets' health windows are as short as a loaded machine allows (below).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { sqsClient } from '../../functions/lib/aws.js';
import { PAGER_CHANNEL } from '../../local/slack-receiver.js';
import { HTTPD_CMD } from '../support/engine-lab.js';
import { labContainers, startE2e, waitFor, withLogsOnFailure, type AgentProcess, type E2e } from './support/e2e.js';

/** Frozen in device-id order: the first is the canary. */
const DEVICES = ['ro-a', 'ro-b'] as const;
const LABEL = 'ring=e2e';
/**
 * Health windows. A good target must come up within its window even on a loaded machine (a recreate has taken
 * 15 s), or its agent rolls it back: the first target gets minutes (its agent promotes it as soon as it is
 * healthy), the rolled-out good one 30 s (the controller judges a device only once the window is over, so this
 * is the good test's pace). The bad one can never come up: the shortest window the contract allows.
 */
const FIRST_WINDOW = 300;
const GOOD_WINDOW = 30;
const BAD_WINDOW = 10;

let e2e: E2e;
const agents = new Map<string, AgentProcess>();

const target = (tag: string, rollbackWindowSeconds: number) => ({
  services: { web: { image: e2e.image(tag), command: HTTPD_CMD } },
  rollbackWindowSeconds,
});

before(async () => {
  e2e = await startE2e('rollout', { scheduleMs: { 'rollout-controller': 1000 } });
  for (const id of DEVICES) {
    const r = await e2e.cli('register', id, '--token-file', join(e2e.dir, `${id}.token`), '--label', LABEL);
    assert.equal(r.code, 0, r.stderr);
    await e2e.setTarget(id, target('1', FIRST_WINDOW));
    agents.set(id, await e2e.startAgent(id));
  }
  for (const id of DEVICES) await waitForVersion(id, (await device(id)).target.version);
});
after(() => e2e?.close());

const device = (id: string) => e2e.cliJson('device', id);
const rollout = (id: string) => e2e.cliJson('rollout', 'status', id);

/** The device reports `version`, promoted (healthy) and running. */
function waitForVersion(id: string, version: string) {
  return waitFor(
    `${id} healthy on ${version}`,
    async () => {
      const d = await device(id);
      return d.targetVersion === version && d.services.find((s: any) => s.name === 'web')?.status === 'running'
        ? d
        : undefined;
    },
    120_000,
    500,
  );
}

/** The images of the web containers the device's agent runs. */
async function runningImages(id: string): Promise<string[]> {
  const mine = (await labContainers(e2e.docker, agents.get(id)!.agentId)) as any[];
  const out: string[] = [];
  for (const c of mine) {
    const info = await e2e.docker.getContainer(c.Id ?? c.id).inspect();
    if (info.State.Running) out.push(info.Config.Image);
  }
  return out;
}

function createRollout(tag: string, window: number, description: string) {
  const file = join(e2e.dir, `rollout-${tag}.json`);
  writeFileSync(file, JSON.stringify(target(tag, window)));
  return e2e.cliJson(
    'rollout',
    'create',
    '--selector',
    LABEL,
    '--target-file',
    file,
    '--canary',
    '1',
    '--rate',
    '1',
    '--abort-failure-count',
    '1',
    '--description',
    description,
  );
}

/** Every alert message the alerts queue held has reached the Slack receiver (or failed there). */
async function alertsDelivered(): Promise<boolean> {
  const { Attributes: a } = await sqsClient().send(
    new GetQueueAttributesCommand({ QueueUrl: e2e.fleet.env.ALERTS_QUEUE_URL, AttributeNames: ['All'] }),
  );
  return (
    a?.ApproximateNumberOfMessages === '0' &&
    a?.ApproximateNumberOfMessagesNotVisible === '0' &&
    (a?.ApproximateNumberOfMessagesDelayed ?? '0') === '0'
  );
}

test('a good target rolled out by label reaches both devices, canary then wave, and completes', () =>
  withLogsOnFailure(e2e, async () => {
    const created = await createRollout('2', GOOD_WINDOW, 'busybox 2');
    assert.equal(created.deviceCount, 2);
    assert.deepEqual(
      created.stages.map((s: any) => [s.name, s.devices]),
      [
        ['canary', 1],
        ['wave 1', 1],
      ],
    );
    const done = await waitFor(
      'the rollout finished',
      async () => {
        const r = await rollout(created.rolloutId);
        return r.status === 'completed' || r.status === 'aborted' ? r : undefined;
      },
      180_000,
      500,
    );
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.deepEqual(done.totals, { pending: 0, inProgress: 0, succeeded: 2, failed: 0, skipped: 0 });
    assert.deepEqual(
      done.stages.map((s: any) => s.counts.succeeded),
      [1, 1],
    );
    const [canary, wave] = done.stages;
    assert.ok(Date.parse(wave.startedAt) >= Date.parse(canary.finishedAt), 'the wave started after the canary ended');
    for (const id of DEVICES) {
      const d = await device(id);
      assert.equal(d.target.version, done.targetVersion, `${id}: the cloud gave it the rollout's target`);
      // Succeeded means the agent promoted the version: it reports it, and runs its image.
      await waitForVersion(id, done.targetVersion);
      assert.deepEqual(await runningImages(id), [e2e.image('2')], id);
    }
  }));

test('a missing image tag aborts after the canary: rolled back, the wave untouched, one alert', () =>
  withLogsOnFailure(e2e, async () => {
    const [canaryId, otherId] = DEVICES;
    const before = Object.fromEntries(await Promise.all(DEVICES.map(async (id) => [id, (await device(id)).target])));
    const created = await createRollout('missing', BAD_WINDOW, 'no such tag');
    const aborted = await waitFor(
      'the rollout aborted',
      async () => {
        const r = await rollout(created.rolloutId);
        return r.status === 'aborted' || r.status === 'completed' ? r : undefined;
      },
      180_000,
      500,
    );
    const runsAtAbort = e2e.fleet.scheduler.stats('rollout-controller').runs;
    assert.equal(aborted.status, 'aborted', JSON.stringify(aborted));
    assert.equal(aborted.abort.by, 'criterion');
    assert.equal(aborted.abort.criterion, 'failureCount');
    assert.equal(aborted.abort.scope, 'canary');
    assert.deepEqual(
      aborted.abort.failures.map((f: any) => [f.cause.split(' · ')[0], f.sample.map((s: any) => s.deviceId)]),
      [['rolled-back', [canaryId]]],
      'the canary failed: its agent rolled back from the target',
    );
    assert.deepEqual(aborted.totals, { pending: 1, inProgress: 0, succeeded: 0, failed: 1, skipped: 0 });
    assert.equal(aborted.stages[1].startedAt, undefined, 'the wave never started');

    // The canary has its previous target back in the cloud, and runs its image again.
    const canary = await device(canaryId);
    assert.equal(canary.target.version, before[canaryId].version);
    assert.deepEqual(canary.target.target, before[canaryId].target);
    await waitForVersion(canaryId, before[canaryId].version);
    await waitFor(
      `${canaryId} runs the previous image`,
      async () => (await runningImages(canaryId)).join() === e2e.image('2'),
      60_000,
      500,
    );
    // The other device never got the bad target: its target document is the very one it had.
    assert.deepEqual((await device(otherId)).target, before[otherId]);
    assert.equal((await device(otherId)).targetVersion, before[otherId].version);

    // Exactly one alert: wait for it, then until two more controller runs ended (a duplicate would have been
    // raised by then) and the alerts queue is empty (and it would have been delivered).
    // Slack's channels only: the local pager (a stand-in HTTPS endpoint on the topic) is not Slack.
    const ours = () =>
      e2e.fleet.slack!.messages.filter(
        (m) => m.channel !== PAGER_CHANNEL && m.text.includes(created.rolloutId) && !/resolved/i.test(m.text),
      );
    await waitFor('the RolloutAborted alert in Slack', () => ours().length > 0, 60_000, 200);
    await waitFor(
      'two more controller runs',
      () => e2e.fleet.scheduler.stats('rollout-controller').runs >= runsAtAbort + 2,
      60_000,
      200,
    );
    await waitFor('the alerts queue drained', alertsDelivered, 60_000, 200);
    const alerts = ours();
    assert.equal(alerts.length, 1, alerts.map((m) => m.text).join('\n---\n'));
    assert.match(alerts[0]!.text, /aborted/i);
    assert.equal((await e2e.cliJson('rollout', 'status', created.rolloutId)).status, 'aborted', 'and it stays aborted');
    assert.deepEqual((await device(otherId)).target, before[otherId], 'still untouched');
  }));
