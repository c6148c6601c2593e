/** Stage configuration from CDK context: defaults that deploy, CLI strings and cdk.json values, loud typos. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stageConfigFrom, stageSettings, OPTIONAL_SETTINGS } from '../../../cdk/lib/stage-config.js';

const ctx = (values: Record<string, unknown>) => ({ tryGetContext: (k: string) => values[k] });

test('defaults: stage dev, the seed runbook thresholds, secret name per stage, nothing optional set', () => {
  const c = stageConfigFrom(ctx({}));
  assert.equal(c.stage, 'dev');
  assert.equal(c.slackWebhookSecretName, 'fleetmedic/dev/slack-webhook');
  assert.equal(c.metricsNamespace, 'Fleetmedic/dev');
  assert.equal(c.jobFailureRatePercent, 10);
  assert.equal(c.stuckJobAgeSeconds, 300);
  assert.equal(c.httpLatencyP95Ms, 2000);
  assert.equal(c.offlineAfterSeconds, 90, 'three missed 30 s heartbeats');
  assert.equal(c.alertEmail, undefined);
  assert.equal(c.reserveConcurrency, false, 'a fresh account has no concurrency to reserve');
  assert.deepEqual(c.operatorRoleNames, []);
  const settings = stageSettings(c);
  assert.equal(settings.OPERATOR_AUTH, 'iam');
  for (const k of OPTIONAL_SETTINGS) assert.ok(!(k in settings), `${k} only when given`);
});

test('CLI strings and typed cdk.json values both parse', () => {
  const fromCli = stageConfigFrom(ctx({ stage: 'prod', heartbeatSeconds: '20', reserveConcurrency: 'true', operatorRoleNames: ' ci-deploy , oncall ' }));
  assert.equal(fromCli.offlineAfterSeconds, 60);
  assert.equal(fromCli.reserveConcurrency, true);
  assert.deepEqual(fromCli.operatorRoleNames, ['ci-deploy', 'oncall']);
  const fromJson = stageConfigFrom(ctx({ heartbeatSeconds: 20, reserveConcurrency: true, alertCooldownSeconds: 600 }));
  assert.equal(fromJson.offlineAfterSeconds, 60);
  assert.equal(stageSettings(fromJson).ALERT_COOLDOWN_SECONDS, '600');
});

test('typos fail with the key and value named', () => {
  assert.throws(() => stageConfigFrom(ctx({ heartbeatSeconds: 'thirty' })), /heartbeatSeconds=thirty/);
  assert.throws(() => stageConfigFrom(ctx({ reserveConcurrency: 'yes' })), /reserveConcurrency=yes: expected true or false/);
  assert.throws(() => stageConfigFrom(ctx({ runbookBaseUrl: 'http://insecure' })), /runbookBaseUrl/);
  assert.throws(() => stageConfigFrom(ctx({ version: 'a b' })), /version=a b/);
  assert.throws(() => stageConfigFrom(ctx({ apiRateLimit: '0' })), /apiRateLimit=0/);
});
