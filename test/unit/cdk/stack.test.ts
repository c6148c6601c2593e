/**
 * Assertions on the synthesized template (aws-cdk-lib/assertions) for every property the stack promises:
 * runtime and architecture, tracing and logs, DLQs and redrive, visibility timeouts, schedules with DLQs,
 * encryption, IAM without wildcard actions and with env⇔grant agreement, throttling and access logs, routes
 * generated from the route table, alarms and thresholds, the dashboard, and cdk-nag.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { routes } from '../../../functions/contract/routes.js';
import { FUNCTION_NAMES, type FunctionName } from '../../../cdk/lib/fleet-function.js';
import { FUNCTION_ACCESS } from '../../../cdk/lib/access.js';
import { HEARTBEAT_METRIC, MISSED_RUNS_BEFORE_ALARM, OFFLINE_METRIC } from '../../../cdk/lib/observability.js';
import { RUN_COMPLETED_METRIC } from '../../../functions/lib/observability.js';
import { alarmAlertName } from '../../../functions/domain/alerting/cloudwatch.js';
import { ALERT_ROUTES, SCHEDULED_FUNCTIONS, TABLES } from '../../../infra/spec.js';
import { defaultStack, synthesize } from './support/stack.js';

type Resource = { Type: string; Properties: Record<string, any>; Metadata?: Record<string, any> };

const { template, app, nag } = defaultStack();
const resources = (template.toJSON() as { Resources: Record<string, Resource> }).Resources;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

/** Logical id of a referenced resource: {Ref: X} or {Fn::GetAtt: [X, ...]}. */
function refId(v: unknown): string | undefined {
  if (v && typeof v === 'object') {
    if ('Ref' in v) return (v as { Ref: string }).Ref;
    const att = (v as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
    if (att) return att[0];
  }
  return undefined;
}
/** Every logical id referenced anywhere inside a value. */
function refsIn(v: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) for (const x of v) refsIn(x, out);
  else if (v && typeof v === 'object') {
    const id = refId(v);
    if (id) out.add(id);
    else for (const x of Object.values(v)) refsIn(x, out);
  }
  return out;
}
const asArray = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

const functions = new Map<FunctionName, { id: string; props: Record<string, any> }>();
for (const [id, r] of ofType('AWS::Lambda::Function')) {
  functions.set(r.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME, { id, props: r.Properties });
}
const fn = (name: FunctionName) => {
  const f = functions.get(name);
  assert.ok(f, `function ${name} in the template`);
  return f;
};
/** The statements of the policies attached to a function's role. */
function statementsOf(name: FunctionName): { Action: string | string[]; Resource: unknown; Effect: string }[] {
  const roleId = refId(fn(name).props.Role)!;
  return ofType('AWS::IAM::Policy')
    .filter(([, p]) => asArray(p.Properties.Roles).some((r) => refId(r) === roleId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
}

describe('Lambda functions', () => {
  test('one function per entry of docs/architecture.md, each with its Powertools service name', () => {
    assert.deepEqual([...functions.keys()].sort(), [...FUNCTION_NAMES].sort());
  });

  test('nodejs22.x on arm64, ESM bundle handler, X-Ray active, own log group, Powertools namespace', () => {
    for (const [name, { props }] of functions) {
      assert.equal(props.Runtime, 'nodejs22.x', name);
      assert.deepEqual(props.Architectures, ['arm64'], name);
      assert.equal(props.Handler, 'index.handler', name);
      assert.deepEqual(props.TracingConfig, { Mode: 'Active' }, name);
      assert.ok(refId(props.LoggingConfig?.LogGroup), `${name} logs to its own log group`);
      assert.equal(props.Environment.Variables.POWERTOOLS_METRICS_NAMESPACE, 'Fleetmedic/dev', name);
      // Source maps are read when an error is logged (functions/lib/source-mapped-stack.ts), not parsed at every cold start.
      assert.doesNotMatch(
        props.Environment.Variables.NODE_OPTIONS ?? '',
        /--enable-source-maps/,
        `${name} sets no --enable-source-maps`,
      );
      assert.ok(props.Timeout > 0 && props.Timeout <= 60, `${name} timeout`);
    }
  });

  test('every log group (functions and API access logs) has a retention period', () => {
    const groups = ofType('AWS::Logs::LogGroup');
    // One per function, the HTTP API's and the push channel's access logs.
    assert.equal(groups.length, FUNCTION_NAMES.length + 2);
    for (const [id, g] of groups) assert.equal(g.Properties.RetentionInDays, 30, id);
  });

  test("roles: no AWS managed policies (logs are granted on the function's own log group only)", () => {
    for (const [id, role] of ofType('AWS::IAM::Role')) {
      assert.equal(role.Properties.ManagedPolicyArns, undefined, id);
      assert.deepEqual(role.Properties.AssumeRolePolicyDocument.Statement[0].Principal, {
        Service: 'lambda.amazonaws.com',
      });
    }
    for (const name of FUNCTION_NAMES) {
      const logs = statementsOf(name).filter((s) => asArray(s.Action).some((a) => a.startsWith('logs:')));
      assert.equal(logs.length, 1, name);
      assert.equal(
        refId(logs[0]!.Resource),
        refId(fn(name).props.LoggingConfig.LogGroup),
        `${name} writes only its log group`,
      );
    }
  });
});

describe('IAM: least privilege', () => {
  const policyDocuments = [
    ...ofType('AWS::IAM::Policy').map(([id, p]) => [id, p.Properties.PolicyDocument] as const),
    ...ofType('AWS::IAM::ManagedPolicy').map(([id, p]) => [id, p.Properties.PolicyDocument] as const),
    ...ofType('AWS::IAM::Role').flatMap(([id, r]) =>
      asArray(r.Properties.Policies).map((p: any) => [id, p.PolicyDocument] as const),
    ),
  ];

  test('no statement grants a wildcard action (no "*", no "service:*", no "kms:GenerateDataKey*")', () => {
    assert.ok(policyDocuments.length >= FUNCTION_NAMES.length);
    for (const [id, doc] of policyDocuments) {
      for (const s of doc.Statement) {
        for (const action of asArray<string>(s.Action))
          assert.ok(!action.includes('*') && !action.includes('?'), `${id}: ${action}`);
        assert.equal(s.NotAction, undefined, id);
      }
    }
  });

  test('Resource "*" appears only for X-Ray (which has no resource-level permissions)', () => {
    for (const [id, doc] of policyDocuments) {
      for (const s of doc.Statement) {
        if (asArray(s.Resource).includes('*'))
          assert.deepEqual(asArray<string>(s.Action).sort(), ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], id);
      }
    }
  });

  test('a function is granted exactly the tables, queues and topic it receives in its environment', () => {
    const stateful = new Set(['AWS::DynamoDB::Table', 'AWS::SQS::Queue', 'AWS::SNS::Topic']);
    for (const name of FUNCTION_NAMES) {
      const { props } = fn(name);
      const fromEnv = new Set(
        Object.values(props.Environment.Variables)
          .map(refId)
          .filter((id): id is string => !!id && stateful.has(resources[id]!.Type)),
      );
      // The async-failure destination (scheduled functions) is granted without being in the env: it is
      // Lambda, not the code, that sends there.
      const destinations = new Set(
        ofType('AWS::Lambda::EventInvokeConfig')
          .filter(([, c]) => refId(c.Properties.FunctionName) === fn(name).id)
          .map(([, c]) => refId(c.Properties.DestinationConfig.OnFailure.Destination)!),
      );
      const granted = new Set(
        [...refsIn(statementsOf(name).map((s) => s.Resource))].filter(
          (id) => stateful.has(resources[id]?.Type ?? '') && !destinations.has(id),
        ),
      );
      assert.deepEqual([...granted].sort(), [...fromEnv].sort(), name);
    }
  });

  test('outbox publisher: only the jobs table, queue and DLQ (depth); slack forwarder: never the jobs table', () => {
    const env = (n: FunctionName) =>
      Object.keys(fn(n).props.Environment.Variables)
        .filter((k) => /_(TABLE|URL|ARN|ID)$/.test(k))
        .sort();
    assert.deepEqual(env('outbox-publisher'), ['JOBS_DLQ_URL', 'JOBS_QUEUE_URL', 'JOBS_TABLE']);
    const outboxQueueActions = statementsOf('outbox-publisher').filter((s) =>
      asArray(s.Action).some((a) => a.startsWith('sqs:')),
    );
    assert.ok(
      !outboxQueueActions.some((s) => asArray(s.Action).includes('sqs:ReceiveMessage')),
      'the outbox publisher never consumes',
    );
    assert.ok(!env('slack-forwarder').includes('JOBS_TABLE'));
    assert.ok(env('slack-forwarder').includes('SLACK_WEBHOOK_SECRET_ID'));
    assert.deepEqual(Object.keys(FUNCTION_ACCESS).sort(), [...FUNCTION_NAMES].sort());
  });

  test('the Slack webhook reaches the forwarder only as a Secrets Manager id, never as a value', () => {
    const vars = fn('slack-forwarder').props.Environment.Variables;
    assert.equal(vars.SLACK_WEBHOOK_SECRET_ID, 'fleetmedic/dev/slack-webhook');
    for (const { props } of functions.values()) {
      for (const v of Object.values(props.Environment.Variables))
        assert.ok(!JSON.stringify(v).includes('hooks.slack.com'));
    }
    const secretGrant = statementsOf('slack-forwarder').find((s) =>
      asArray(s.Action).includes('secretsmanager:GetSecretValue'),
    );
    assert.ok(secretGrant, 'forwarder may read the secret');
    assert.match(JSON.stringify(secretGrant.Resource), /secret:fleetmedic\/dev\/slack-webhook-\?\?\?\?\?\?/);
    // Apart from the forwarder, secretsmanager appears only in the registry credential grants (next test).
    for (const name of FUNCTION_NAMES.filter((n) => n !== 'slack-forwarder')) {
      const other = statementsOf(name).filter(
        (s) =>
          asArray(s.Action).some((a) => a.startsWith('secretsmanager:')) &&
          !JSON.stringify(s.Resource).includes(':secret:fleetmedic/dev/registry/*'),
      );
      assert.deepEqual(other, [], name);
    }
  });

  test('registry credentials: device-api only reads, operator-api only manages (never reads), both on the name prefix only', () => {
    const registryGrants = (name: FunctionName) =>
      statementsOf(name)
        .filter((s) => asArray(s.Action).some((a) => a.startsWith('secretsmanager:')))
        .filter((s) => JSON.stringify(s.Resource).includes('registry'));
    const actionsOf = (name: FunctionName) =>
      registryGrants(name)
        .flatMap((s) => asArray<string>(s.Action))
        .sort();
    assert.deepEqual(actionsOf('device-api'), ['secretsmanager:GetSecretValue']);
    assert.deepEqual(actionsOf('operator-api'), [
      'secretsmanager:CreateSecret',
      'secretsmanager:DeleteSecret',
      'secretsmanager:DescribeSecret',
      'secretsmanager:PutSecretValue',
    ]);
    for (const name of ['device-api', 'operator-api'] as const) {
      for (const st of registryGrants(name))
        assert.match(JSON.stringify(st.Resource), /:secret:fleetmedic\/dev\/registry\/\*"/, name);
      assert.equal(fn(name).props.Environment.Variables.REGISTRY_SECRET_PREFIX, 'fleetmedic/dev/registry/');
    }
    for (const name of FUNCTION_NAMES.filter((n) => n !== 'device-api' && n !== 'operator-api')) {
      assert.deepEqual(registryGrants(name), [], name);
      assert.equal(fn(name).props.Environment.Variables.REGISTRY_SECRET_PREFIX, undefined, name);
    }
  });
});

describe('DynamoDB', () => {
  test('six on-demand tables with point-in-time recovery, KMS encryption and TTL, retained on delete', () => {
    const tables = ofType('AWS::DynamoDB::Table');
    assert.equal(tables.length, 6);
    for (const [id, t] of tables) {
      assert.equal(t.Properties.BillingMode, 'PAY_PER_REQUEST', id);
      assert.deepEqual(t.Properties.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true }, id);
      // SSEEnabled without a key id = KMS with the account's AWS-managed aws/dynamodb key.
      assert.equal(t.Properties.SSESpecification?.SSEEnabled, true, id);
      assert.equal(t.Properties.SSESpecification.KMSMasterKeyId, undefined, id);
      assert.equal(t.Properties.TimeToLiveSpecification.Enabled, true, id);
      assert.equal(t.Properties.DeletionProtectionEnabled, true, id);
    }
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
    });
  });
});

describe('SQS', () => {
  const queues = ofType('AWS::SQS::Queue');
  const dlqIds = new Set(queues.map(([, q]) => refId(q.Properties.RedrivePolicy?.deadLetterTargetArn)).filter(Boolean));
  // Queues that are dead-letter targets of something other than a queue: schedules, destinations, subscriptions.
  const otherDlqs = new Set([
    ...ofType('AWS::Events::Rule').flatMap(([, r]) =>
      r.Properties.Targets.map((t: any) => refId(t.DeadLetterConfig?.Arn)),
    ),
    ...ofType('AWS::Lambda::EventInvokeConfig').map(([, c]) =>
      refId(c.Properties.DestinationConfig?.OnFailure?.Destination),
    ),
    ...ofType('AWS::SNS::Subscription').map(([, s]) => refId(s.Properties.RedrivePolicy?.deadLetterTargetArn)),
  ]);

  test('every queue is encrypted (SSE-SQS) and refuses plain HTTP', () => {
    for (const [id, q] of queues) assert.equal(q.Properties.SqsManagedSseEnabled, true, id);
    const policies = ofType('AWS::SQS::QueuePolicy');
    for (const [id] of queues) {
      const policy = policies.find(([, p]) => asArray(p.Properties.Queues).some((q) => refId(q) === id));
      assert.ok(policy, `${id} has a queue policy`);
      const deny = policy[1].Properties.PolicyDocument.Statement.find((s: any) => s.Effect === 'Deny');
      assert.deepEqual(deny?.Condition, { Bool: { 'aws:SecureTransport': 'false' } }, id);
    }
  });

  test('every queue is a dead-letter queue or has one, with maxReceiveCount 5', () => {
    for (const [id, q] of queues) {
      if (dlqIds.has(id) || otherDlqs.has(id)) {
        assert.equal(q.Properties.MessageRetentionPeriod, 14 * 86400, `${id}: DLQs keep messages 14 days`);
        continue;
      }
      assert.equal(q.Properties.RedrivePolicy?.maxReceiveCount, 5, `${id} redrives after 5 receives`);
    }
    assert.equal(dlqIds.size, 2, 'jobs DLQ and alerts-delivery DLQ');
  });

  test("visibility timeout >= 6x the consuming function's timeout; partial batch failures reported", () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    assert.equal(mappings.length, 2, 'dispatcher and slack forwarder');
    for (const [id, m] of mappings) {
      const queue = resources[refId(m.Properties.EventSourceArn)!]!;
      const consumer = resources[refId(m.Properties.FunctionName)!]!;
      assert.ok(
        queue.Properties.VisibilityTimeout >= 6 * consumer.Properties.Timeout,
        `${id}: ${queue.Properties.VisibilityTimeout} vs ${consumer.Properties.Timeout}`,
      );
      assert.deepEqual(m.Properties.FunctionResponseTypes, ['ReportBatchItemFailures'], id);
      assert.ok(queue.Properties.RedrivePolicy, `${id}: the consumed queue has a DLQ`);
    }
    const dispatcherMapping = mappings.find(([, m]) => refId(m.Properties.FunctionName) === fn('job-dispatcher').id);
    assert.ok(dispatcherMapping, 'the dispatcher consumes the jobs queue');
  });
});

describe('schedules and asynchronous targets', () => {
  test('outbox publisher, timeout sweeper, health evaluator and rollout controller run every minute, with a DLQ and retry policy', () => {
    const rules = ofType('AWS::Events::Rule');
    const scheduled: FunctionName[] = [
      'outbox-publisher',
      'job-timeout-sweeper',
      'health-evaluator',
      'rollout-controller',
    ];
    for (const name of scheduled) {
      const rule = rules.find(([, r]) => r.Properties.Targets.some((t: any) => refId(t.Arn) === fn(name).id));
      assert.ok(rule, `${name} has a schedule`);
      assert.equal(rule[1].Properties.ScheduleExpression, 'rate(1 minute)');
      const target = rule[1].Properties.Targets[0];
      assert.ok(refId(target.DeadLetterConfig?.Arn), `${name}: target DLQ`);
      assert.equal(target.RetryPolicy.MaximumRetryAttempts, 2);
      // A run that throws is not dropped either: the function's async on-failure destination.
      const invokeConfig = ofType('AWS::Lambda::EventInvokeConfig').find(
        ([, c]) => refId(c.Properties.FunctionName) === fn(name).id,
      );
      assert.ok(invokeConfig, `${name}: async invoke config`);
      assert.equal(
        refId(invokeConfig[1].Properties.DestinationConfig.OnFailure.Destination),
        refId(target.DeadLetterConfig.Arn),
      );
      assert.equal(invokeConfig[1].Properties.MaximumRetryAttempts, 0);
    }
    assert.equal(rules.length, scheduled.length);
  });
});

describe('SNS alerting', () => {
  test('the alert topic is KMS-encrypted (rotating key), TLS-only, and CloudWatch may publish to it', () => {
    const [[topicId, topic]] = ofType('AWS::SNS::Topic') as [[string, Resource]];
    const keyId = refId(topic.Properties.KmsMasterKeyId)!;
    assert.equal(resources[keyId]!.Type, 'AWS::KMS::Key');
    assert.equal(resources[keyId]!.Properties.EnableKeyRotation, true);
    const keyStatements = resources[keyId]!.Properties.KeyPolicy.Statement;
    assert.ok(
      keyStatements.some(
        (s: any) =>
          s.Principal?.Service === 'cloudwatch.amazonaws.com' &&
          !asArray(s.Action).some((a: string) => a.includes('*')),
      ),
    );
    const [[, topicPolicy]] = ofType('AWS::SNS::TopicPolicy') as [[string, Resource]];
    assert.ok(asArray(topicPolicy.Properties.Topics).some((t) => refId(t) === topicId));
    const stmts = topicPolicy.Properties.PolicyDocument.Statement;
    assert.ok(stmts.some((s: any) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false'));
    assert.ok(stmts.some((s: any) => s.Effect === 'Allow' && s.Principal?.Service === 'cloudwatch.amazonaws.com'));
  });

  test('the alerts-delivery queue is subscribed with the envelope kept and a subscription DLQ; the forwarder consumes it', () => {
    const [[, sub]] = ofType('AWS::SNS::Subscription') as [[string, Resource]];
    assert.equal(sub.Properties.Protocol, 'sqs');
    assert.equal(sub.Properties.RawMessageDelivery, false);
    assert.ok(refId(sub.Properties.RedrivePolicy?.deadLetterTargetArn));
    const mapping = ofType('AWS::Lambda::EventSourceMapping').find(
      ([, m]) => refId(m.Properties.FunctionName) === fn('slack-forwarder').id,
    );
    assert.equal(refId(mapping?.[1].Properties.EventSourceArn), refId(sub.Properties.Endpoint));
  });
});

describe('HTTP API', () => {
  // The push channel's WebSocket API has its own test (device-push.test.ts).
  const httpApiIds = new Set(
    ofType('AWS::ApiGatewayV2::Api')
      .filter(([, r]) => r.Properties.ProtocolType === 'HTTP')
      .map(([id]) => id),
  );
  const ofHttpApi = (type: string) => ofType(type).filter(([, r]) => httpApiIds.has(refId(r.Properties.ApiId) ?? ''));
  const routeResources = ofHttpApi('AWS::ApiGatewayV2::Route');
  const integrationTarget = (route: Resource) => {
    const integrationId = refsIn(route.Properties.Target);
    const [integration] = [...integrationId]
      .map((id) => resources[id]!)
      .filter((r) => r.Type === 'AWS::ApiGatewayV2::Integration');
    return refId(integration?.Properties.IntegrationUri);
  };

  test('one API Gateway route per entry of functions/contract/routes.ts, on the function the table names', () => {
    assert.equal(routeResources.length, routes.length);
    for (const r of routes) {
      const found = routeResources.find(([, x]) => x.Properties.RouteKey === `${r.method} ${r.path}`);
      assert.ok(found, `${r.method} ${r.path}`);
      assert.equal(integrationTarget(found[1]), fn(r.fn).id, `${r.method} ${r.path} → ${r.fn}`);
      assert.equal(
        found[1].Properties.AuthorizationType,
        r.auth === 'operator' ? 'AWS_IAM' : 'NONE',
        `${r.method} ${r.path} auth`,
      );
    }
  });

  test('payload format 2.0 for both integrations', () => {
    for (const [id, i] of ofHttpApi('AWS::ApiGatewayV2::Integration')) {
      assert.equal(i.Properties.PayloadFormatVersion, '2.0', id);
      assert.equal(i.Properties.IntegrationType, 'AWS_PROXY', id);
    }
  });

  test('$default stage: throttling derived from the default fleetSize (1,000), JSON access logs to a log group with retention, detailed metrics', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 43, ThrottlingBurstLimit: 86, DetailedMetricsEnabled: true },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('\\$context.requestId') },
    });
    const [[, stage]] = ofHttpApi('AWS::ApiGatewayV2::Stage') as [[string, Resource]];
    const logGroup = resources[refId(stage.Properties.AccessLogSettings.DestinationArn)!]!;
    assert.equal(logGroup.Type, 'AWS::Logs::LogGroup');
    assert.ok(logGroup.Properties.RetentionInDays > 0);
    JSON.parse(stage.Properties.AccessLogSettings.Format);
  });

  test("operator-api trusts API Gateway's IAM check; the invoke policy names only operator routes", () => {
    assert.equal(fn('operator-api').props.Environment.Variables.OPERATOR_AUTH, 'iam');
    const [[, policy]] = ofType('AWS::IAM::ManagedPolicy') as [[string, Resource]];
    const [statement] = policy.Properties.PolicyDocument.Statement;
    assert.deepEqual(asArray(statement.Action), ['execute-api:Invoke']);
    const resourcesText = asArray(statement.Resource).map((r) => JSON.stringify(r));
    assert.equal(resourcesText.length, routes.filter((r) => r.auth === 'operator').length);
    assert.ok(
      resourcesText.every((r) => !r.includes('/reports') && !r.includes('/jobs/pending')),
      'no device route',
    );
  });
});

describe('alarms', () => {
  const alarms = new Map(
    ofType('AWS::CloudWatch::Alarm').map(([, a]) => [a.Properties.AlarmName as string, a.Properties]),
  );
  const alarm = (name: string) => {
    const a = alarms.get(`fleetmedic-dev-${name}`);
    assert.ok(a, `alarm ${name}`);
    return a;
  };
  const topicNamed = (displayName: string) => {
    const found = ofType('AWS::SNS::Topic').find(([, t]) => t.Properties.DisplayName === displayName);
    assert.ok(found, displayName);
    return found[0];
  };
  const alertTopic = topicNamed('Fleetmedic alerts');
  const pagingTopic = topicNamed('Fleetmedic paging alarms');
  const alertingPathTopic = topicNamed('Fleetmedic alerting-path alarms');

  test('every alarm that reaches Slack is an alert the forwarder knows by name (none falls back to PlatformAlarm)', () => {
    const toSlack = [...alarms].filter(([, a]) => asArray(a.AlarmActions).map(refId).includes(alertTopic));
    assert.ok(toSlack.length > 10, `${toSlack.length} alarms on the alert topic`);
    for (const [name] of toSlack) assert.notEqual(alarmAlertName(name), 'PlatformAlarm', name);
  });

  test('every alarm notifies its route on ALARM and on OK: Slack, Slack + pager, or the alerting-path topic alone', () => {
    assert.ok(alarms.size > 0);
    const alertingPath =
      /-(DeadLetters-alerts|DeadLetters-alert-email|DeadLetters-alert-routing|Errors-slack-forwarder|Throttles-slack-forwarder|AlertsQueueAge)$/;
    const paging =
      /-(RunnerDown-.+|ApiServerErrors|DynamoSystemErrors-.+|JobsStuckInQueue|HighJobFailureRate|DeadLetters-jobs)$/;
    const routes = { alertingPath: 0, paging: 0, slack: 0 };
    for (const [name, a] of alarms) {
      const route: keyof typeof routes = alertingPath.test(name)
        ? 'alertingPath'
        : paging.test(name)
          ? 'paging'
          : 'slack';
      routes[route]++;
      const expected = {
        alertingPath: [alertingPathTopic],
        paging: [alertTopic, pagingTopic],
        slack: [alertTopic],
      }[route];
      assert.deepEqual(a.AlarmActions.map(refId), expected, name);
      assert.deepEqual(a.OKActions.map(refId), expected, name);
      // Only the heartbeat alarms fire on too little (a run count below 1); every other one on too much.
      assert.equal(
        a.ComparisonOperator,
        name.includes('-RunnerDown-') ? 'LessThanThreshold' : 'GreaterThanThreshold',
        name,
      );
    }
    // The default stage has no e-mail or pager: alerts DLQ, forwarder errors/throttles, queue age.
    assert.deepEqual(routes.alertingPath, 4);
    assert.ok(routes.paging >= SCHEDULED_FUNCTIONS.length + 4 && routes.slack > 0);
  });

  test('AlertsQueueAge: the oldest alert waiting for the Slack forwarder is older than 600 s', () => {
    const a = alarm('AlertsQueueAge');
    assert.equal(a.MetricName, 'ApproximateAgeOfOldestMessage');
    assert.equal(a.Threshold, 600);
    const alertsQueue = ofType('AWS::SNS::Subscription').find(
      ([, s]) => s.Properties.Protocol === 'sqs' && refId(s.Properties.TopicArn) === alertTopic,
    )![1].Properties.Endpoint;
    assert.equal(refId(a.Dimensions[0].Value), refId(alertsQueue));
  });

  test('the Slack queue is subscribed to the alert topic only, unfiltered; the alarm topics have no Slack path', () => {
    const sqs = ofType('AWS::SNS::Subscription').filter(([, s]) => s.Properties.Protocol === 'sqs');
    assert.equal(sqs.length, 1);
    assert.equal(refId(sqs[0]![1].Properties.TopicArn), alertTopic);
    assert.equal(sqs[0]![1].Properties.FilterPolicy, undefined);
  });

  test('RunnerDown: each scheduled function alarms after two periods without a completed run, missing data breaching', () => {
    assert.equal(HEARTBEAT_METRIC, RUN_COMPLETED_METRIC);
    assert.equal(MISSED_RUNS_BEFORE_ALARM, 2);
    for (const name of SCHEDULED_FUNCTIONS) {
      const a = alarm(`RunnerDown-${name}`);
      assert.equal(a.MetricName, 'scheduled_runs_completed', name);
      assert.equal(a.Namespace, 'Fleetmedic/dev', name);
      assert.deepEqual(a.Dimensions, [{ Name: 'service', Value: name }], name);
      assert.equal(a.Statistic, 'Sum', name);
      assert.equal(a.Period, 60, `${name}: one period = its schedule (every minute)`);
      assert.equal(a.EvaluationPeriods, 2, name);
      assert.equal(a.DatapointsToAlarm, 2, name);
      assert.equal(a.ComparisonOperator, 'LessThanThreshold', name);
      assert.equal(a.Threshold, 1, name);
      assert.equal(a.TreatMissingData, 'breaching', `${name}: a stopped schedule publishes nothing`);
    }
    const runnerDown = [...alarms.keys()].filter((n) => n.includes('-RunnerDown-'));
    assert.equal(runnerDown.length, SCHEDULED_FUNCTIONS.length);
  });

  test('ApiServerErrors: 5xx / requests > 5 % over 5 minutes (no requests is not an alarm)', () => {
    const a = alarm('ApiServerErrors');
    assert.equal(a.Threshold, 5);
    assert.equal(a.TreatMissingData, 'notBreaching');
    const stats = a.Metrics.filter((m: any) => m.MetricStat);
    assert.deepEqual(stats.map((m: any) => m.MetricStat.Metric.MetricName).sort(), ['5xx', 'Count']);
    for (const m of stats) {
      assert.equal(m.MetricStat.Metric.Namespace, 'AWS/ApiGateway');
      assert.equal(m.MetricStat.Stat, 'Sum');
      assert.equal(m.MetricStat.Period, 300);
      assert.equal(m.MetricStat.Metric.Dimensions[0].Name, 'ApiId');
    }
    assert.match(
      a.Metrics.find((m: any) => m.ReturnData !== false).Expression,
      /^IF\(.+ > 0, 100 \* .+ \/ requests, 0\)$/,
    );
  });

  test('the watchman alarms each have a runbook section', () => {
    const runbook = readFileSync(join(import.meta.dirname, '../../../docs/runbook.md'), 'utf8');
    for (const section of ['RunnerDown', 'ApiServerErrors', 'DynamoThrottles', 'DynamoSystemErrors'])
      assert.match(runbook, new RegExp(`^## ${section}$`, 'm'), section);
  });

  test('DynamoDB: a throttle alarm and a system-errors alarm on every table', () => {
    const tableIds = new Set(ofType('AWS::DynamoDB::Table').map(([id]) => id));
    for (const key of Object.keys(TABLES)) {
      const throttles = alarm(`DynamoThrottles-${key}`);
      const throttleMetrics = throttles.Metrics.filter((m: any) => m.MetricStat);
      assert.deepEqual(throttleMetrics.map((m: any) => m.MetricStat.Metric.MetricName).sort(), [
        'ReadThrottleEvents',
        'WriteThrottleEvents',
      ]);
      const errors = alarm(`DynamoSystemErrors-${key}`);
      const errorMetrics = errors.Metrics.filter((m: any) => m.MetricStat);
      assert.ok(errorMetrics.length > 0 && errorMetrics.length <= 10, `${key}: at most 10 metrics in one alarm`);
      const operations = errorMetrics.map(
        (m: any) => m.MetricStat.Metric.Dimensions.find((d: any) => d.Name === 'Operation').Value,
      );
      assert.deepEqual(operations.sort(), ['BatchGetItem', 'DeleteItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem']);
      for (const a of [throttles, errors]) {
        assert.equal(a.Threshold, 0, key);
        const metrics = a.Metrics.filter((m: any) => m.MetricStat);
        const table = new Set(
          metrics.map((m: any) => refId(m.MetricStat.Metric.Dimensions.find((d: any) => d.Name === 'TableName').Value)),
        );
        assert.equal(table.size, 1, `${key}: one table per alarm`);
        assert.ok(tableIds.has([...table][0] as string), `${key}: a table of the stack`);
      }
    }
  });

  test('HighJobFailureRate: jobs_fail / jobs_processed_total > 10 % over 5 minutes (metric math on EMF metrics)', () => {
    const a = alarm('HighJobFailureRate');
    assert.equal(a.Threshold, 10);
    const expression = a.Metrics.find((m: any) => m.ReturnData !== false);
    assert.match(expression.Expression, /^IF\(.+ > 0, 100 \* \(.+\) \/ \(.+\), 0\)$/);
    const names = a.Metrics.filter((m: any) => m.MetricStat).map((m: any) => m.MetricStat.Metric.MetricName);
    assert.ok(names.includes('jobs_fail') && names.includes('jobs_processed_total'));
    for (const m of a.Metrics.filter((m: any) => m.MetricStat)) {
      assert.equal(m.MetricStat.Period, 300);
      assert.equal(m.MetricStat.Stat, 'Sum');
      assert.equal(m.MetricStat.Metric.Namespace, 'Fleetmedic/dev');
    }
  });

  test('JobsStuckInQueue: oldest queued message OR oldest unpublished outbox job older than 300 s', () => {
    const a = alarm('JobsStuckInQueue');
    assert.equal(a.Threshold, 300);
    const names = a.Metrics.filter((m: any) => m.MetricStat)
      .map((m: any) => m.MetricStat.Metric.MetricName)
      .sort();
    assert.deepEqual(names, ['ApproximateAgeOfOldestMessage', 'outbox_oldest_unpublished_age_seconds']);
    assert.match(a.Metrics.find((m: any) => m.Expression).Expression, /^MAX\(\[/);
  });

  test('HighHTTPLatency: API p95 > 2000 ms', () => {
    const a = alarm('HighHTTPLatency');
    assert.equal(a.Threshold, 2000);
    assert.equal(a.ExtendedStatistic, 'p95');
    assert.equal(a.MetricName, 'Latency');
    assert.equal(a.Namespace, 'AWS/ApiGateway');
  });

  test('every dead-letter queue has a depth alarm (> 0 visible messages)', () => {
    const dlqAlarms = [...alarms.values()].filter((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible');
    const queuesWithAlarm = new Set(dlqAlarms.map((a) => refId(a.Dimensions[0].Value)));
    const redriveTargets = ofType('AWS::SQS::Queue').map(([, q]) =>
      refId(q.Properties.RedrivePolicy?.deadLetterTargetArn),
    );
    const scheduleDlqs = ofType('AWS::Events::Rule').map(([, r]) =>
      refId(r.Properties.Targets[0].DeadLetterConfig.Arn),
    );
    for (const id of [...redriveTargets, ...scheduleDlqs].filter(Boolean))
      assert.ok(queuesWithAlarm.has(id), `DLQ ${id} alarmed`);
    for (const a of dlqAlarms) assert.equal(a.Threshold, 0);
    assert.equal(dlqAlarms.length, 6);
  });

  test('Errors and Throttles alarms for every function', () => {
    for (const name of FUNCTION_NAMES) {
      for (const metric of ['Errors', 'Throttles']) {
        const a = alarm(`${metric}-${name}`);
        assert.equal(a.MetricName, metric);
        assert.equal(refId(a.Dimensions[0].Value), fn(name).id);
        assert.equal(a.Threshold, 0);
      }
    }
  });

  test('DevicesOffline: the devices_offline gauge (devices offline now) above the threshold (default: 1 % of the default fleetSize 1,000)', () => {
    const a = alarm('DevicesOffline');
    assert.equal(a.MetricName, OFFLINE_METRIC);
    assert.equal(OFFLINE_METRIC, 'devices_offline');
    assert.equal(a.Statistic, 'Maximum');
    assert.equal(a.Period, 300);
    assert.deepEqual(a.Dimensions, [{ Name: 'service', Value: 'health-evaluator' }]);
    assert.equal(a.Threshold, 10);
  });
});

describe('dashboard', () => {
  test('shows fleet health, jobs, circuits, queues and latency', () => {
    const [[, dash]] = ofType('AWS::CloudWatch::Dashboard') as [[string, Resource]];
    const body = JSON.stringify(dash.Properties.DashboardBody);
    for (const needle of [
      OFFLINE_METRIC,
      'jobs_processed_total',
      'jobs_fail',
      'circuit_breaker_state',
      'ApproximateAgeOfOldestMessage',
      'outbox_unpublished_count',
      'Latency',
    ]) {
      assert.ok(body.includes(needle), needle);
    }
  });
});

describe('cdk-nag', () => {
  test('AwsSolutions reports no unacknowledged finding', () => {
    const report = nag.validateScope(app);
    assert.deepEqual(
      report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`),
      [],
    );
  });

  test('every acknowledgement carries a reason, and is scoped to a resource (none on the stack or app)', () => {
    const acknowledged = Object.values(resources).flatMap((r) => r.Metadata?.cdk_nag?.rules_to_suppress ?? []);
    assert.ok(acknowledged.length > 0);
    for (const a of acknowledged)
      assert.ok(typeof a.reason === 'string' && a.reason.length >= 20, `${a.id}: ${a.reason}`);
    // Rules that would hide real problems must never be acknowledged.
    for (const a of acknowledged) assert.ok(!/^AwsSolutions-(SQS2|SQS4|SNS2|SNS3|DDB3|APIG1|IAM4)/.test(a.id), a.id);
    const stackLevel = [app, ...app.node.children].flatMap((c) =>
      c.node.metadata.filter((m) => m.type === 'aws:cdk:acknowledged-rules'),
    );
    assert.deepEqual(stackLevel, []);
  });
});

describe('stage configuration from context', () => {
  const prod = synthesize({
    stage: 'prod',
    jobFailureRatePercent: '5',
    offlineDevicesThreshold: '20',
    httpLatencyP95Ms: 1500,
    alertEmail: 'oncall@example.com',
    slackWebhookSecretName: 'ops/slack/fleetmedic',
    apiRateLimit: '50',
    operatorRoleNames: 'github-deploy,oncall',
    logRetentionDays: '90',
    reserveConcurrency: 'true',
  });
  const prodResources = (prod.template.toJSON() as { Resources: Record<string, Resource> }).Resources;
  const prodAlarm = (name: string) =>
    Object.values(prodResources).find((r) => r.Properties?.AlarmName === `fleetmedic-prod-${name}`)?.Properties;

  test('stack name, namespace, thresholds and secret name follow the context', () => {
    assert.equal(prod.stack.stackName, 'Fleetmedic-prod');
    assert.equal(prodAlarm('HighJobFailureRate')?.Threshold, 5);
    assert.equal(prodAlarm('DevicesOffline')?.Threshold, 20);
    assert.equal(prodAlarm('HighHTTPLatency')?.Threshold, 1500);
    prod.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          SLACK_WEBHOOK_SECRET_ID: 'ops/slack/fleetmedic',
          POWERTOOLS_METRICS_NAMESPACE: 'Fleetmedic/prod',
        }),
      },
    });
    prod.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 50 }),
    });
    prod.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
  });

  test('alert e-mail subscribes to the topic with its own DLQ (alarmed); operator roles get the invoke policy', () => {
    prod.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      RedrivePolicy: Match.anyValue(),
    });
    assert.ok(prodAlarm('DeadLetters-alert-email'));
    prod.template.hasResourceProperties('AWS::IAM::ManagedPolicy', { Roles: ['github-deploy', 'oncall'] });
  });

  test('routing: the pager gets level 3 by filter policy plus both alarm topics; the warning e-mail level 2', () => {
    const withPager = synthesize({
      pagerUrl: 'https://events.pagerduty.example/integration/abc/enqueue',
      pagerEmail: 'pager@example.com',
      warningEmail: 'team@example.com',
      alertEmail: 'oncall@example.com',
    });
    const res = (withPager.template.toJSON() as { Resources: Record<string, Resource> }).Resources;
    const topic = (name: string) =>
      Object.entries(res).find(([, r]) => r.Type === 'AWS::SNS::Topic' && r.Properties.DisplayName === name)![0];
    const [alerts, paging, path] = [
      topic('Fleetmedic alerts'),
      topic('Fleetmedic paging alarms'),
      topic('Fleetmedic alerting-path alarms'),
    ];
    const subs = Object.values(res)
      .filter((r) => r.Type === 'AWS::SNS::Subscription')
      .map((r) => r.Properties)
      .filter((s) => s.Protocol !== 'sqs');
    const on = (t: string, endpoint: string) => subs.filter((s) => refId(s.TopicArn) === t && s.Endpoint === endpoint);
    for (const [protocol, endpoint] of [
      ['https', 'https://events.pagerduty.example/integration/abc/enqueue'],
      ['email', 'pager@example.com'],
    ]) {
      const [onAlerts] = on(alerts, endpoint!);
      assert.equal(onAlerts?.Protocol, protocol);
      assert.deepEqual(onAlerts?.FilterPolicy, ALERT_ROUTES.pager, `${endpoint}: level 3 only, not notifyOnFail=false`);
      for (const t of [paging, path]) {
        const [s] = on(t, endpoint!);
        assert.ok(s, `${endpoint} subscribed to ${t}`);
        assert.equal(s.FilterPolicy, undefined, `${endpoint} on ${t}: every alarm`);
      }
    }
    const [warning] = on(alerts, 'team@example.com');
    assert.deepEqual(warning?.FilterPolicy, ALERT_ROUTES.warning);
    assert.deepEqual(ALERT_ROUTES.warning, { level: [{ numeric: ['=', 2] }] });
    assert.deepEqual(ALERT_ROUTES.pager, { level: [{ numeric: ['=', 3] }], notifyOnFail: [{ exists: false }] });
    // The general alert e-mail: everything on the alert topic, and the alerting-path alarms.
    assert.equal(on(alerts, 'oncall@example.com')[0]?.FilterPolicy, undefined);
    assert.equal(on(path, 'oncall@example.com').length, 1);
    assert.equal(on(paging, 'oncall@example.com').length, 0);
    for (const s of subs) assert.ok(s.RedrivePolicy, `${s.Endpoint} on ${refId(s.TopicArn)} has a DLQ`);
    const routingDlq = Object.values(res).find(
      (r) =>
        r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.AlarmName === 'fleetmedic-dev-DeadLetters-alert-routing',
    );
    assert.deepEqual(routingDlq?.Properties.AlarmActions.map(refId), [path]);
  });

  test('bad pager settings fail synth naming the key', () => {
    assert.throws(() => synthesize({ pagerUrl: 'http://insecure.example' }), /pagerUrl/);
    assert.throws(() => synthesize({ warningEmail: 'not-an-address' }), /warningEmail/);
  });

  test('reserveConcurrency=true gives each scheduled function exactly one concurrent run', () => {
    const reserved = Object.values(prodResources)
      .filter((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.ReservedConcurrentExecutions !== undefined)
      .map((r) => [
        r.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME,
        r.Properties.ReservedConcurrentExecutions,
      ]);
    assert.deepEqual(reserved.sort(), [
      ['health-evaluator', 1],
      ['job-timeout-sweeper', 1],
      ['outbox-publisher', 1],
      ['rollout-controller', 1],
    ]);
    assert.equal(
      ofType('AWS::Lambda::Function').filter(([, r]) => r.Properties.ReservedConcurrentExecutions !== undefined).length,
      0,
      'off by default',
    );
  });

  test('fleetSize derives the stage throttle and the DevicesOffline threshold in the template', () => {
    const big = synthesize({ stage: 'big', fleetSize: '100000' });
    big.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 4300, ThrottlingBurstLimit: 8600 }),
    });
    const alarm = Object.values((big.template.toJSON() as { Resources: Record<string, Resource> }).Resources).find(
      (r) => r.Properties?.AlarmName === 'fleetmedic-big-DevicesOffline',
    );
    assert.equal(alarm?.Properties.Threshold, 1000);
    assert.throws(
      () => synthesize({ heartbeatSeconds: '60', offlineAfterSeconds: '60' }),
      /offlineAfterSeconds=60 is shorter than 1.5 × heartbeatSeconds=60/,
    );
  });

  test('bad context fails synth with a message naming the key', () => {
    assert.throws(() => synthesize({ jobFailureRatePercent: 'ten' }), /jobFailureRatePercent=ten/);
    assert.throws(() => synthesize({ logRetentionDays: '31' }), /logRetentionDays=31/);
    assert.throws(() => synthesize({ stage: 'Prod_1' }), /stage=Prod_1/);
    assert.throws(() => synthesize({ alertEmail: 'nobody' }), /alertEmail=nobody/);
  });
});
