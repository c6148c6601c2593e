/** Stage configuration from CDK context: defaults that deploy, CLI strings and cdk.json values, loud typos. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stageConfigFrom, stageSettings, OPTIONAL_SETTINGS } from '../../../cdk/lib/stage-config.js';

const ctx = (values: Record<string, unknown>) => ({ tryGetContext: (k: string) => values[k] });

test('defaults: stage dev, the runbook thresholds, secret name per stage, nothing optional set', () => {
  const c = stageConfigFrom(ctx({}));
  assert.equal(c.stage, 'dev');
  assert.equal(c.slackWebhookSecretName, 'fleetmedic/dev/slack-webhook');
  assert.equal(c.metricsNamespace, 'Fleetmedic/dev');
  assert.equal(c.jobFailureRatePercent, 10);
  assert.equal(c.stuckJobAgeSeconds, 300);
  assert.equal(c.httpLatencyP95Ms, 2000);
  assert.equal(c.heartbeatSeconds, 60, 'the idle sync interval');
  assert.equal(c.offlineAfterSeconds, 90, '1.5 idle intervals: the smallest cutoff a device on time cannot cross');
  assert.equal(c.alertEmail, undefined);
  assert.equal(c.reserveConcurrency, false, 'a fresh account has no concurrency to reserve');
  assert.deepEqual(c.operatorRoleNames, []);
  const settings = stageSettings(c);
  assert.equal(settings.OPERATOR_AUTH, 'iam');
  for (const k of OPTIONAL_SETTINGS) assert.ok(!(k in settings), `${k} only when given`);
});

test('CLI strings and typed cdk.json values both parse', () => {
  const fromCli = stageConfigFrom(
    ctx({
      stage: 'prod',
      heartbeatSeconds: '20',
      reserveConcurrency: 'true',
      operatorRoleNames: ' ci-deploy , oncall ',
    }),
  );
  assert.equal(fromCli.offlineAfterSeconds, 30);
  assert.equal(fromCli.reserveConcurrency, true);
  assert.deepEqual(fromCli.operatorRoleNames, ['ci-deploy', 'oncall']);
  const fromJson = stageConfigFrom(ctx({ heartbeatSeconds: 20, reserveConcurrency: true, alertCooldownSeconds: 600 }));
  assert.equal(fromJson.offlineAfterSeconds, 30);
  assert.equal(stageSettings(fromJson).ALERT_COOLDOWN_SECONDS, '600');
});

test('typos fail with the key and value named', () => {
  assert.throws(() => stageConfigFrom(ctx({ heartbeatSeconds: 'thirty' })), /heartbeatSeconds=thirty/);
  assert.throws(
    () => stageConfigFrom(ctx({ reserveConcurrency: 'yes' })),
    /reserveConcurrency=yes: expected true or false/,
  );
  assert.throws(() => stageConfigFrom(ctx({ runbookBaseUrl: 'http://insecure' })), /runbookBaseUrl/);
  assert.throws(() => stageConfigFrom(ctx({ version: 'a b' })), /version=a b/);
  assert.throws(() => stageConfigFrom(ctx({ apiRateLimit: '0' })), /apiRateLimit=0/);
});

test('a liveness configuration that contradicts itself fails synth naming the keys', () => {
  assert.throws(
    () => stageConfigFrom(ctx({ heartbeatSeconds: 60, offlineAfterSeconds: 70 })),
    /offlineAfterSeconds=70 is shorter than 1.5 × heartbeatSeconds=60/,
  );
  assert.throws(
    () => stageConfigFrom(ctx({ activeSyncSeconds: 120 })),
    /activeSyncSeconds=120 is longer than heartbeatSeconds=60/,
  );
  assert.throws(
    () => stageConfigFrom(ctx({ livenessRefreshSeconds: 300 })),
    /livenessRefreshSeconds is no longer used/,
  );
  assert.equal(stageConfigFrom(ctx({ heartbeatSeconds: 60, offlineAfterSeconds: 90 })).offlineAfterSeconds, 90);
});

test('fleetSize derives the API throttle, burst and DevicesOffline threshold; an explicit throttle below the fleet is refused', () => {
  const small = stageConfigFrom(ctx({}));
  assert.equal(small.fleetSize, 1000);
  // 990 idle devices every 60 s + 10 active every 2 s = 21.5 requests/s, ×2 headroom.
  assert.equal(small.apiRateLimit, 43);
  assert.equal(small.apiBurstLimit, 86);
  assert.equal(small.offlineDevicesThreshold, 10);
  const big = stageConfigFrom(ctx({ fleetSize: '100000' }));
  assert.equal(big.apiRateLimit, 4300);
  assert.equal(big.offlineDevicesThreshold, 1000);
  assert.throws(
    () => stageConfigFrom(ctx({ fleetSize: 100000, apiRateLimit: 1000 })),
    /apiRateLimit=1000 is below the steady 2150 requests\/s of fleetSize=100000/,
  );
  assert.equal(
    stageConfigFrom(ctx({ fleetSize: 100000, apiRateLimit: 3000 })).apiRateLimit,
    3000,
    'an override with room is kept',
  );
});
