/**
 * The stack against the handlers' code: each function gets exactly the resource ids its code reads
 * (no missing env var that would fail at runtime, no extra one that would mean an unneeded grant), exactly the
 * AWS calls its code makes (two-sided: a missing grant fails, and so does a grant nobody calls; per table down to
 * the action and the index), the stage settings its code reads, and the alarms' metric math covers exactly the
 * functions that emit the metrics it sums.
 *
 * To declare a need: add the call to the function's entry in FUNCTION_ACCESS (cdk/lib/access.ts); this test
 * derives the needs from the bundled code (support/handler-needs.ts) and names any difference.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { FUNCTION_NAMES, type FunctionName } from '../../../cdk/lib/fleet-function.js';
import { TRIGGER_QUEUE_ACTIONS } from '../../../cdk/lib/access.js';
import { SCHEDULED_FUNCTIONS } from '../../../infra/spec.js';
import {
  HEARTBEAT_METRIC,
  JOB_OUTCOME_EMITTERS,
  OFFLINE_EMITTER,
  OFFLINE_METRIC,
  OUTBOX_EMITTER,
} from '../../../cdk/lib/observability.js';
import { handlerSource, synthesize } from './support/stack.js';
import { handlerNeeds, type HandlerNeeds } from './support/handler-needs.js';

/** Ids of resources (tables, queues, topic, secrets): granted together with their env var. */
const RESOURCE_VAR = /_(TABLE|QUEUE_URL|DLQ_URL|TOPIC_ARN|SECRET_ID)$/;
/** Set by Lambda itself, by Powertools conventions, or only meaningful outside Lambda. */
const PLATFORM_VARS = new Set([
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_ENDPOINT_URL',
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
  'POWERTOOLS_TRACE_ENABLED',
  'POWERTOOLS_DEV',
  'NODE_ENV',
]);
/** Settings the stage configuration controls: where the code reads one, the stack must set it. */
const STAGE_SETTINGS = [
  'CIRCUIT_FAILURE_THRESHOLD',
  'CIRCUIT_COOLDOWN_SECONDS',
  'CIRCUIT_MAX_COOLDOWN_SECONDS',
  'HEARTBEAT_SECONDS',
  'OFFLINE_AFTER_SECONDS',
  'ACTIVE_SYNC_SECONDS',
  'ACTIVE_WINDOW_SECONDS',
  'RECOVERY_MAX_ATTEMPTS',
  'RECOVERY_WINDOW_SECONDS',
  'ALERT_COOLDOWN_SECONDS',
  'ALERT_GROUP_WAIT_SECONDS',
  'RUNBOOK_BASE_URL',
  'FLEETMEDIC_VERSION',
];
/** Stage settings given on purpose here, so optional ones (set only when context gives them) are checked too. */
const ALL_SETTINGS_CONTEXT = {
  runbookBaseUrl: 'https://example.com/runbook',
  version: 'abc123',
  recoveryMaxAttempts: 3,
  recoveryWindowSeconds: 300,
  alertCooldownSeconds: 1800,
  alertGroupWaitSeconds: 60,
  // The Slack channels' own webhooks: the forwarder's code reads their ids, so the stack must be able to set them.
  slackWebhookSecretNameCritical: 'fleetmedic/dev/slack-webhook-critical',
  slackWebhookSecretNameWarning: 'fleetmedic/dev/slack-webhook-warning',
};
/**
 * Reachable in a bundle but never used in AWS, each with the reason (the analysis sees code, not runtime).
 * Keys are env vars or IAM actions.
 */
const NOT_USED_IN_AWS: Record<string, { functions: readonly FunctionName[] | 'all'; reason: string }> = {
  OPERATOR_TOKEN_SECRET_ID: {
    functions: 'all',
    reason: 'bearer operator auth is local mode only; in AWS API Gateway checks IAM (OPERATOR_AUTH=iam)',
  },
  'secretsmanager:GetSecretValue': {
    functions: ['operator-api'],
    reason: 'reads the bearer operator token, local mode only (device-api reads registry credentials with it, granted)',
  },
  JOBS_QUEUE_URL: {
    functions: ['slack-forwarder'],
    reason: 'delayRedelivery() defaults to the jobs queue; the forwarder always passes the alerts queue',
  },
  'ssm:GetParameter': {
    functions: ['slack-forwarder'],
    reason: 'the webhook may live in SSM (ssm:/name); the stack uses a Secrets Manager secret',
  },
};
const unused = (name: FunctionName, key: string) => {
  const entry = NOT_USED_IN_AWS[key];
  return !!entry && (entry.functions === 'all' || entry.functions.includes(name));
};

const METRICS = [
  'jobs_fail',
  'jobs_processed_total',
  'outbox_oldest_unpublished_age_seconds',
  OFFLINE_METRIC,
  HEARTBEAT_METRIC,
] as const;

const source = handlerSource();
const { template } = synthesize(ALL_SETTINGS_CONTEXT);
const functionEnv = new Map<string, Record<string, unknown>>();
for (const r of Object.values(template.toJSON().Resources as Record<string, { Type: string; Properties: any }>)) {
  if (r.Type === 'AWS::Lambda::Function')
    functionEnv.set(r.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME, r.Properties.Environment.Variables);
}
const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: any }>;
/** Every action in the policies attached to a function's role. */
function grantedActions(name: FunctionName): Set<string> {
  const fnResource = Object.values(resources).find(
    (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME === name,
  )!;
  const roleId = fnResource.Properties.Role['Fn::GetAtt'][0];
  const actions = new Set<string>();
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::IAM::Policy' || !r.Properties.Roles.some((x: { Ref: string }) => x.Ref === roleId)) continue;
    for (const st of r.Properties.PolicyDocument.Statement) for (const a of [st.Action].flat()) actions.add(a);
  }
  return actions;
}
type Resources = Record<string, { Type: string; Properties: any }>;
interface Statement {
  actions: string[];
  resources: unknown[];
}
function functionResource(res: Resources, name: FunctionName): [string, { Type: string; Properties: any }] {
  return Object.entries(res).find(
    ([, r]) =>
      r.Type === 'AWS::Lambda::Function' && r.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME === name,
  )!;
}
/** Every statement of every policy attached to the function's role. */
function roleStatements(res: Resources, name: FunctionName): Statement[] {
  const roleId = functionResource(res, name)[1].Properties.Role['Fn::GetAtt'][0];
  return Object.values(res)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: { Ref: string }) => x.Ref === roleId))
    .flatMap((r) =>
      r.Properties.PolicyDocument.Statement.map((st: any) => ({
        actions: [st.Action].flat(),
        resources: [st.Resource].flat(),
      })),
    );
}
/** A resource in a policy → the table (by its env var in the function's env) and the index, if it is one. */
function tableOf(resource: unknown, env: Record<string, unknown>): { table: string; index?: string } | undefined {
  const r = resource as any;
  const logicalId =
    r?.['Fn::GetAtt']?.[1] === 'Arn' ? r['Fn::GetAtt'][0] : r?.['Fn::Join']?.[1]?.[0]?.['Fn::GetAtt']?.[0];
  const table = Object.entries(env).find(([k, v]) => k.endsWith('_TABLE') && (v as any)?.Ref === logicalId)?.[0];
  if (!table) return undefined;
  const suffix = r?.['Fn::Join']?.[1]?.[1];
  return typeof suffix === 'string' && suffix.startsWith('/index/')
    ? { table, index: suffix.slice('/index/'.length) }
    : { table };
}

/** Actions the platform calls with the function's role, not the code: its log group, X-Ray, SNS's KMS, SQS. */
function platformActions(res: Resources, name: FunctionName, granted: Set<string>): Set<string> {
  const out = new Set([
    'logs:CreateLogStream',
    'logs:PutLogEvents',
    'xray:PutTraceSegments',
    'xray:PutTelemetryRecords',
  ]);
  // Publishing to the KMS-encrypted topic: SNS makes these two calls with the publisher's permissions.
  if (granted.has('sns:Publish')) for (const a of ['kms:GenerateDataKey', 'kms:Decrypt']) out.add(a);
  const [fnId] = functionResource(res, name);
  const refersToFn = (r: { Properties: any }) => r.Properties.FunctionName?.Ref === fnId;
  // Lambda's SQS poller (event source mapping) and the async failure destination use the function's role.
  if (Object.values(res).some((r) => r.Type === 'AWS::Lambda::EventSourceMapping' && refersToFn(r)))
    for (const a of TRIGGER_QUEUE_ACTIONS) out.add(`sqs:${a}`);
  if (
    Object.values(res).some(
      (r) => r.Type === 'AWS::Lambda::EventInvokeConfig' && refersToFn(r) && r.Properties.DestinationConfig?.OnFailure,
    )
  )
    out.add('sqs:SendMessage');
  return out;
}

/** Per table: granted DynamoDB actions against what the code calls, both ways; per index: Query, both ways. */
function tableGrantProblems(res: Resources, name: FunctionName, need: HandlerNeeds): string[] {
  const env = functionResource(res, name)[1].Properties.Environment.Variables;
  const granted = new Map<string, { actions: Set<string>; indexes: Set<string> }>();
  const problems: string[] = [];
  for (const st of roleStatements(res, name)) {
    const dynamo = st.actions.filter((a) => a.startsWith('dynamodb:')).map((a) => a.slice('dynamodb:'.length));
    if (!dynamo.length) continue;
    for (const resource of st.resources) {
      const t = tableOf(resource, env);
      if (!t) {
        problems.push(`DynamoDB actions on a resource that is none of its tables: ${JSON.stringify(resource)}`);
        continue;
      }
      const g = granted.get(t.table) ?? { actions: new Set<string>(), indexes: new Set<string>() };
      granted.set(t.table, g);
      if (t.index) {
        g.indexes.add(t.index);
        for (const a of dynamo)
          if (a !== 'Query') problems.push(`${t.table} index ${t.index}: ${a} (an index only ever needs Query)`);
      } else for (const a of dynamo) g.actions.add(a);
    }
  }
  for (const table of new Set([...granted.keys(), ...need.tables.keys()])) {
    const g = granted.get(table) ?? { actions: new Set<string>(), indexes: new Set<string>() };
    const n = need.tables.get(table) ?? { actions: new Set<string>(), indexes: new Set<string>() };
    for (const a of g.actions) if (!n.actions.has(a)) problems.push(`${table}: dynamodb:${a} granted, never called`);
    for (const a of n.actions) if (!g.actions.has(a)) problems.push(`${table}: dynamodb:${a} called, not granted`);
    for (const i of g.indexes)
      if (!n.indexes.has(i)) problems.push(`${table}: Query on index ${i} granted, never read`);
    for (const i of n.indexes) if (!g.indexes.has(i)) problems.push(`${table}: index ${i} read, Query not granted`);
  }
  return problems;
}

/** Every non-DynamoDB action granted must be one the code calls or the platform calls for it. */
function unusedGrants(res: Resources, name: FunctionName, need: HandlerNeeds): string[] {
  const granted = new Set(roleStatements(res, name).flatMap((st) => st.actions));
  const platform = platformActions(res, name, granted);
  return [...granted].filter((a) => !a.startsWith('dynamodb:') && !need.actions.has(a) && !platform.has(a)).sort();
}

const needs = new Map<FunctionName, HandlerNeeds>();
for (const name of FUNCTION_NAMES) needs.set(name, await handlerNeeds(join(source.handlersDir, `${name}.ts`), METRICS));

for (const name of FUNCTION_NAMES) {
  test(`${name}: env has exactly the resource ids the code reads`, () => {
    const provided = Object.keys(functionEnv.get(name)!)
      .filter((k) => RESOURCE_VAR.test(k))
      .sort();
    const read = [...needs.get(name)!.env].filter((k) => RESOURCE_VAR.test(k) && !unused(name, k));
    assert.deepEqual(
      provided,
      read.sort(),
      `${name}: the stack's env (left) differs from what the code reads (right); update FUNCTION_ACCESS in cdk/lib/access.ts`,
    );
  });

  test(`${name}: the role allows every AWS call the code makes`, () => {
    const granted = grantedActions(name);
    const missing = [...needs.get(name)!.actions].filter((a) => !granted.has(a) && !unused(name, a));
    assert.deepEqual(
      missing,
      [],
      `${name}: the code calls AWS actions its role lacks; update FUNCTION_ACCESS in cdk/lib/access.ts`,
    );
  });

  test(`${name}: each table gets exactly the DynamoDB calls the code makes on it, and Query on exactly the indexes it reads`, () => {
    assert.deepEqual(
      tableGrantProblems(resources, name, needs.get(name)!),
      [],
      `${name}: update FUNCTION_ACCESS in cdk/lib/access.ts`,
    );
  });

  test(`${name}: the role grants nothing that neither the code nor the platform calls`, () => {
    assert.deepEqual(
      unusedGrants(resources, name, needs.get(name)!),
      [],
      `${name}: granted but never called; update FUNCTION_ACCESS in cdk/lib/access.ts`,
    );
  });

  test(`${name}: stage settings reach the code that reads them, and nothing unread is set`, () => {
    const env = functionEnv.get(name)!;
    const read = needs.get(name)!.env;
    for (const s of STAGE_SETTINGS)
      if (read.has(s)) assert.ok(s in env, `${name} reads ${s} but the stack does not set it`);
    const settings = Object.keys(env).filter(
      (k) => !RESOURCE_VAR.test(k) && !PLATFORM_VARS.has(k) && k !== 'NODE_OPTIONS',
    );
    for (const s of settings) {
      if (s === 'OPERATOR_AUTH') continue;
      assert.ok(read.has(s), `${name}: the stack sets ${s} but the code never reads it`);
    }
  });
}

test('HighJobFailureRate sums every function that emits jobs_fail / jobs_processed_total (alarm math: at most 10 metrics)', () => {
  const emitters = FUNCTION_NAMES.filter(
    (n) => needs.get(n)!.metrics.has('jobs_processed_total') || needs.get(n)!.metrics.has('jobs_fail'),
  );
  assert.ok(emitters.length > 0, 'some function reports job outcomes');
  for (const e of emitters)
    assert.ok(JOB_OUTCOME_EMITTERS.includes(e), `${e} emits job outcomes but the alarm does not sum it`);
  assert.ok(JOB_OUTCOME_EMITTERS.length * 2 <= 10);
});

test('JobsStuckInQueue and DevicesOffline read the metric from the function that emits it', () => {
  const emitting = (metric: (typeof METRICS)[number]) =>
    FUNCTION_NAMES.filter((n) => needs.get(n)!.metrics.has(metric));
  assert.deepEqual(emitting('outbox_oldest_unpublished_age_seconds'), [OUTBOX_EMITTER]);
  // device-api bundles the evaluator module too (reports are evaluated in-process), but only the scheduled
  // run marks devices offline.
  assert.ok(emitting(OFFLINE_METRIC).includes(OFFLINE_EMITTER));
});

test('RunnerDown watches a heartbeat every scheduled function publishes (a silent one would always alarm)', () => {
  for (const name of SCHEDULED_FUNCTIONS)
    assert.ok(needs.get(name)!.metrics.has(HEARTBEAT_METRIC), `${name} publishes ${HEARTBEAT_METRIC}`);
  assert.ok(!needs.get('device-api')!.metrics.has(HEARTBEAT_METRIC), 'the analysis tells emitters apart');
});

test('the two-sided check fails on a grant nobody calls (per table, per index, and any other service)', () => {
  const doctored = structuredClone(resources) as Resources;
  const env = functionResource(doctored, 'device-api')[1].Properties.Environment.Variables;
  const policy = Object.values(doctored).find(
    (r) =>
      r.Type === 'AWS::IAM::Policy' &&
      r.Properties.Roles.some(
        (x: { Ref: string }) => x.Ref === functionResource(doctored, 'device-api')[1].Properties.Role['Fn::GetAtt'][0],
      ) &&
      r.Properties.PolicyDocument.Statement.length > 2,
  )!;
  const fleet = { 'Fn::GetAtt': [env.FLEET_TABLE.Ref, 'Arn'] };
  policy.Properties.PolicyDocument.Statement.push(
    { Action: ['dynamodb:BatchWriteItem', 'dynamodb:DescribeTable'], Effect: 'Allow', Resource: fleet },
    { Action: 'dynamodb:Query', Effect: 'Allow', Resource: { 'Fn::Join': ['', [fleet, '/index/devices']] } },
    { Action: ['sqs:GetQueueUrl', 'secretsmanager:DescribeSecret'], Effect: 'Allow', Resource: '*' },
  );
  const need = needs.get('device-api')!;
  assert.deepEqual(tableGrantProblems(doctored, 'device-api', need).sort(), [
    'FLEET_TABLE: Query on index devices granted, never read',
    'FLEET_TABLE: dynamodb:BatchWriteItem granted, never called',
    'FLEET_TABLE: dynamodb:DescribeTable granted, never called',
  ]);
  assert.deepEqual(unusedGrants(doctored, 'device-api', need), ['secretsmanager:DescribeSecret', 'sqs:GetQueueUrl']);
  // And on the real stack, nothing.
  assert.deepEqual(tableGrantProblems(resources, 'device-api', need), []);
});
