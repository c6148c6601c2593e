/**
 * Health evaluation end to end on moto: reports through the real device-api handler → evaluateDevice → recovery
 * jobs (jobs table + queue) or alerts (ALERTS_TABLE dedupe → SNS topic → alerts queue → the real Slack forwarder
 * → a real local HTTP server standing in for Slack). Markers are set through the real operator API.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createAlertingFixture, deliverPending, iso, running, type AlertingFixture } from '../../support/alerting.js';
import { listJobsForDevice } from '../../../functions/adapters/jobs-repo.js';
import { documentClient } from '../../../functions/lib/aws.js';
import { handler as forwarder } from '../../../functions/handlers/slack-forwarder.js';
import { alertPolicy, flushAlertGroups } from '../../../functions/services/alert-groups.js';

/** Past group_wait: the evaluator's flush announces the windows opened so far. */
const flushGroups = () => flushAlertGroups({ now: Date.now() + alertPolicy().groupWaitMs + 1000 });

let al: AlertingFixture;

before(async () => {
  al = await createAlertingFixture({ OFFLINE_AFTER_SECONDS: '90', ALERT_GROUP_WAIT_SECONDS: '60' });
});
after(() => al.close());

const crashing = (name: string, n: number) => ({
  name,
  image: `lab/${name}:1`,
  status: 'restarting',
  restartCount: n,
  recentRestarts: 3 + n,
  error: {
    type: 'CrashLoopBackOff',
    message: `exit code 1 (#${n})`,
    timestamp: iso(),
    retryCount: n,
    nextRetry: iso(Date.now() + 10_000),
  },
});

async function finishJob(deviceId: string, jobId: string, status: 'SUCCEEDED' | 'FAILED') {
  const token = await al.device(deviceId);
  const put = (body: unknown) =>
    al.api.device({ method: 'PUT', path: `/v1/devices/${deviceId}/jobs/${jobId}`, token, body });
  const started = await put({ status: 'IN_PROGRESS', expectedVersion: 1 });
  assert.equal(started.status, 200, started.raw);
  const done = await put({ status, expectedVersion: started.body.version });
  assert.equal(done.status, 200, done.raw);
}

describe('recovery decisions', () => {
  test('a crash-looping service gets at most 3 recovery jobs in 5 minutes, then one escalation alert', async () => {
    const id = 'crash-1';
    await al.drainAlertEvents(100);
    const jobs = async () => (await listJobsForDevice(id, 50)).filter((j) => j.type === 'restart-service');
    for (let i = 1; i <= 3; i++) {
      await al.report(id, [crashing('mosquitto', i), running('web')]);
      const list = await jobs();
      assert.equal(list.length, i, `recovery job #${i}`);
      assert.deepEqual(list[0]!.params, { service: 'mosquitto', reason: 'fleetmedic auto-recovery' });
      // While the job is on its way, more crash reports do not pile up restarts.
      await al.report(id, [crashing('mosquitto', i + 100), running('web')]);
      assert.equal((await jobs()).length, i, 'no second job while one is in flight');
      await finishJob(id, list.find((j) => j.status === 'QUEUED')!.jobId, 'SUCCEEDED');
    }
    assert.deepEqual(await al.drainAlertEvents(), [], 'automated recovery (level 1) pages nobody');

    // Still crashing after 3 restarts: escalate instead of a 4th restart.
    for (let i = 4; i <= 7; i++) await al.report(id, [crashing('mosquitto', i), running('web')]);
    assert.equal((await jobs()).length, 3, 'never a 4th recovery job within the window');
    // Per-device alerts with a cause wait for group_wait (more devices may fail the same way); alone, it is sent
    // as its own alert.
    assert.deepEqual(await al.drainAlertEvents(), [], 'nothing before group_wait');
    await flushGroups();
    const alerts = await al.drainAlertEvents();
    assert.equal(alerts.length, 1, 'exactly one escalation alert');
    const a = alerts[0]!;
    assert.equal(a.alertName, 'ServiceCrashLoop');
    assert.equal(a.severity, 'WARNING');
    assert.equal(a.deviceId, id);
    assert.equal(a.service, 'mosquitto');
    assert.match(a.summary, /3 cloud recovery attempts in 5m did not help/);
    assert.equal(a.tried.filter((t) => t.startsWith('cloud: restart-service')).length, 3);
    assert.equal(a.runbook, 'docs/runbook.md#servicecrashloop');
    assert.ok(a.correlationId, 'the report’s correlation id travels into the alert');

    const rec = await documentClient().send(
      new GetCommand({
        TableName: al.env('ALERTS_TABLE'),
        Key: { pk: `ALERT#ServiceCrashLoop:${id}:mosquitto`, sk: 'STATE' },
      }),
    );
    assert.equal(rec.Item?.suppressedCount, 3, 'the later raises were suppressed and counted');

    const events = await al.api.operator({
      method: 'GET',
      path: '/v1/events/recent',
      query: { deviceId: id, type: 'recovery.enqueued' },
    });
    assert.equal(events.status, 200);
    assert.equal(events.body.events.length, 3, 'recovery.enqueued events are queryable through the operator API');
  });

  test('a service under a manual-stop marker gets neither recovery jobs nor alerts; the device’s other services still do', async () => {
    const id = 'marked-1';
    await al.device(id);
    await al.drainAlertEvents(100);
    const m = await al.api.operator({
      method: 'POST',
      path: `/v1/devices/${id}/markers`,
      body: { service: 'mosquitto', kind: 'manual-stop', reason: 'firmware work', durationSeconds: 3600 },
    });
    assert.equal(m.status, 201, m.raw);
    for (let i = 1; i <= 6; i++) await al.report(id, [crashing('mosquitto', i), running('web')]);
    assert.equal((await listJobsForDevice(id, 50)).length, 0, 'no recovery job');
    assert.deepEqual(await al.drainAlertEvents(), [], 'no alert');
    const rec = await documentClient().send(
      new GetCommand({
        TableName: al.env('ALERTS_TABLE'),
        Key: { pk: `ALERT#ServiceCrashLoop:${id}:mosquitto`, sk: 'STATE' },
      }),
    );
    assert.equal(rec.Item, undefined, 'not even a suppressed alert record');
    // Another service of the same device is not silenced.
    await al.report(id, [crashing('mosquitto', 7), crashing('web', 1)]);
    const jobs = await listJobsForDevice(id, 50);
    assert.deepEqual(
      jobs.map((j) => j.params.service),
      ['web'],
    );
  });

  test('a device-wide maintenance marker silences every service', async () => {
    const id = 'marked-2';
    await al.device(id);
    assert.equal(
      (
        await al.api.operator({
          method: 'POST',
          path: `/v1/devices/${id}/markers`,
          body: { kind: 'maintenance', durationSeconds: 600 },
        })
      ).status,
      201,
    );
    for (let i = 1; i <= 4; i++) await al.report(id, [crashing('a', i), crashing('b', i)]);
    assert.equal((await listJobsForDevice(id, 50)).length, 0);
    assert.deepEqual(await al.drainAlertEvents(), []);
  });

  test('dependencies are recovered before their dependents', async () => {
    const id = 'deps-1';
    await al.device(id);
    const target = {
      services: {
        db: { image: 'lab/db:1' },
        app: { image: 'lab/app:1', dependsOn: ['db'] },
      },
    };
    assert.equal(
      (await al.api.operator({ method: 'PUT', path: `/v1/devices/${id}/target`, body: target })).status,
      200,
    );
    await al.report(id, [crashing('app', 1), crashing('db', 1)]);
    let jobs = await listJobsForDevice(id, 50);
    assert.deepEqual(
      jobs.map((j) => j.params.service),
      ['db'],
      'only the dependency is restarted first',
    );
    await finishJob(id, jobs[0]!.jobId, 'SUCCEEDED');
    await al.report(id, [crashing('app', 2), running('db')]);
    jobs = await listJobsForDevice(id, 50);
    assert.deepEqual(jobs.map((j) => j.params.service).sort(), ['app', 'db'], 'then the dependent');
  });
});

describe('routing', () => {
  test('a service whose target says notifyOnFail: false raises its alerts marked off the pager; the others do not', async () => {
    const id = 'quiet-1';
    await al.device(id);
    await al.drainAlertEvents(100);
    const target = {
      services: { ads: { image: 'lab/ads:missing', notifyOnFail: false }, web: { image: 'lab/web:missing' } },
    };
    const put = await al.api.operator({ method: 'PUT', path: `/v1/devices/${id}/target`, body: target });
    assert.equal(put.status, 200, put.raw);
    const pullFailure = (name: string) => ({
      name,
      image: `lab/${name}:missing`,
      status: 'error',
      error: {
        type: 'ImagePullBackOff',
        message: 'manifest unknown',
        timestamp: iso(),
        retryCount: 1,
        nextRetry: iso(Date.now() + 10_000),
        permanent: true,
      },
    });
    await al.report(id, [pullFailure('ads'), pullFailure('web')]);
    await flushGroups();
    const alerts = (await al.drainAlertEvents()).filter((a) => a.deviceId === id);
    const byService = new Map(alerts.map((a) => [a.service, a]));
    assert.deepEqual([...byService.keys()].sort(), ['ads', 'web'], 'both are raised and recorded');
    assert.equal(byService.get('ads')!.notifyOnFail, false);
    assert.equal(byService.get('web')!.notifyOnFail, undefined);
  });
});

describe('alerts end to end (report → SNS → alerts queue → forwarder → Slack)', () => {
  test('a flapping service produces one alert and one resolved message per cooldown', async () => {
    const id = 'flap-1';
    await al.drainAlertEvents(100);
    const broken = {
      name: 'nodered',
      image: 'lab/nodered:missing',
      status: 'error',
      error: {
        type: 'ImagePullBackOff',
        message: 'manifest unknown',
        timestamp: iso(),
        retryCount: 1,
        nextRetry: iso(Date.now() + 10_000),
        permanent: true,
      },
    };
    const before = al.slack.messages.length;
    for (let i = 0; i < 6; i++) {
      await al.report(id, [broken, running('web')]);
      // The first failure is announced once group_wait has passed (alone in its window: as its own alert).
      if (i === 0) await flushGroups();
      await al.report(id, [running('nodered'), running('web')]);
    }
    for (let i = 0; i < 3; i++) await deliverPending(forwarder, al.env('ALERTS_QUEUE_URL'), { waitMs: 1500 });
    const got = al.slack.messages
      .slice(before)
      .map((m) => m.text)
      .filter((t) => t.includes(id));
    assert.equal(got.length, 2, `exactly two Slack messages, got:\n${got.join('\n---\n')}`);
    assert.match(got[0]!, /WARNING ServiceImagePullBackOff · nodered on flap-1/);
    assert.match(got[0]!, /manifest unknown/);
    assert.match(got[1]!, /RESOLVED ServiceImagePullBackOff/);
    const rec = await documentClient().send(
      new GetCommand({
        TableName: al.env('ALERTS_TABLE'),
        Key: { pk: `ALERT#ServiceImagePullBackOff:${id}:nodered`, sk: 'STATE' },
      }),
    );
    assert.equal(rec.Item?.flaps, 5, 'the five re-fires inside the cooldown were recorded as flaps, not sent');
    assert.equal(rec.Item?.state, 'resolved');
  });
});
