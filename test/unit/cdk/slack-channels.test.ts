/**
 * The Slack channels' own webhooks in the template (docs/runbook.md "How alerts reach you"): the forwarder's env
 * carries exactly the configured secrets' ids (never a value), its role may GetSecretValue on exactly those secrets'
 * ARNs and nothing else, and no other function gets either. Without per-channel context, only the default webhook.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FUNCTION_NAMES, type FunctionName } from '../../../cdk/lib/fleet-function.js';
import { SLACK_CHANNEL_SECRET_ENV, SLACK_SECRET_ENV } from '../../../cdk/lib/access.js';
import { stageConfigFrom } from '../../../cdk/lib/stage-config.js';
import { defaultStack, synthesize } from './support/stack.js';

type Resources = Record<string, { Type: string; Properties: any }>;
const asArray = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

function view(template: { toJSON(): any }) {
  const res = template.toJSON().Resources as Resources;
  const fnOf = (name: FunctionName) =>
    Object.values(res).find(
      (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME === name,
    )!;
  const env = (name: FunctionName) => fnOf(name).Properties.Environment.Variables as Record<string, unknown>;
  /** The resources of every secretsmanager statement of the function's role, as written in the template. */
  const secretGrants = (name: FunctionName) => {
    const roleId = fnOf(name).Properties.Role['Fn::GetAtt'][0];
    return Object.values(res)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: any) => x.Ref === roleId))
      .flatMap((r) => r.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[])
      .filter((s) => asArray(s.Action).some((a) => a.startsWith('secretsmanager:')));
  };
  /** `secret:<name>-??????` of each resource (Fn::Join of the partition/region/account and the name). */
  const secretNames = (resources: unknown[]) =>
    resources
      .map((r) => JSON.stringify(r).match(/:secret:([^"]+)-\?{6}/)?.[1])
      .map((n) => n ?? 'not a secret ARN')
      .sort();
  return { env, secretGrants, secretNames };
}

const CHANNEL_VARS = Object.values(SLACK_CHANNEL_SECRET_ENV);

describe('Slack channel webhooks configured', () => {
  const { template } = synthesize({
    slackWebhookSecretName: 'ops/slack/default',
    slackWebhookSecretNameCritical: 'ops/slack/critical',
    slackWebhookSecretNameWarning: 'ops/slack/warning',
  });
  const v = view(template);

  test("the forwarder's env carries the three secret ids, by name", () => {
    const env = v.env('slack-forwarder');
    assert.equal(env[SLACK_SECRET_ENV], 'ops/slack/default');
    assert.equal(env.SLACK_WEBHOOK_CRITICAL_SECRET_ID, 'ops/slack/critical');
    assert.equal(env.SLACK_WEBHOOK_WARNING_SECRET_ID, 'ops/slack/warning');
  });

  test('its role: GetSecretValue only, on exactly those three secret ARNs', () => {
    const grants = v.secretGrants('slack-forwarder');
    assert.deepEqual(grants.flatMap((s) => asArray(s.Action)).sort(), ['secretsmanager:GetSecretValue']);
    assert.deepEqual(v.secretNames(grants.flatMap((s) => asArray(s.Resource))), [
      'ops/slack/critical',
      'ops/slack/default',
      'ops/slack/warning',
    ]);
  });

  test('no other function gets the channel secrets, by env or by grant', () => {
    for (const name of FUNCTION_NAMES.filter((n) => n !== 'slack-forwarder')) {
      for (const k of [SLACK_SECRET_ENV, ...CHANNEL_VARS]) assert.ok(!(k in v.env(name)), `${name}: ${k}`);
      assert.ok(!JSON.stringify(v.secretGrants(name)).includes('ops/slack'), name);
    }
  });

  test('a channel sharing the default secret is granted once', () => {
    const shared = view(
      synthesize({ slackWebhookSecretName: 'ops/slack/all', slackWebhookSecretNameCritical: 'ops/slack/all' }).template,
    );
    assert.deepEqual(shared.secretNames(shared.secretGrants('slack-forwarder').flatMap((s) => asArray(s.Resource))), [
      'ops/slack/all',
    ]);
    assert.equal(shared.env('slack-forwarder').SLACK_WEBHOOK_CRITICAL_SECRET_ID, 'ops/slack/all');
    assert.ok(!('SLACK_WEBHOOK_WARNING_SECRET_ID' in shared.env('slack-forwarder')));
  });
});

describe('Slack channel webhooks not configured', () => {
  const v = view(defaultStack().template);

  test('only the default secret: in the env and in the one grant', () => {
    const env = v.env('slack-forwarder');
    assert.equal(env[SLACK_SECRET_ENV], 'fleetmedic/dev/slack-webhook');
    for (const k of CHANNEL_VARS) assert.ok(!(k in env), k);
    assert.deepEqual(v.secretNames(v.secretGrants('slack-forwarder').flatMap((s) => asArray(s.Resource))), [
      'fleetmedic/dev/slack-webhook',
    ]);
  });
});

test('a channel secret name that is not one fails the synth naming the key', () => {
  const ctx = (values: Record<string, unknown>) => ({ tryGetContext: (k: string) => values[k] });
  assert.throws(
    () => stageConfigFrom(ctx({ slackWebhookSecretNameCritical: 'https://hooks.slack.com/services/T/B/C' })),
    (err: Error) =>
      /context slackWebhookSecretNameCritical: not a Secrets Manager secret name/.test(err.message) &&
      !err.message.includes('hooks.slack.com'),
  );
  const c = stageConfigFrom(ctx({ slackWebhookSecretNameWarning: 'ops/slack/warning' }));
  assert.equal(c.slackWebhookSecretNameWarning, 'ops/slack/warning');
  assert.equal(c.slackWebhookSecretNameCritical, undefined);
});
