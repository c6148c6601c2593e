/**
 * The stack deploys what infra/spec.ts describes (the same description the local fleet provisions from):
 * every table with its keys, GSIs and TTL; every spec queue with its visibility, retention and redrive; the
 * topic's SQS subscription with the envelope kept; each function's timeout, memory, queue trigger or schedule.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FUNCTIONS, INFRA, QUEUES, type FunctionName, type KeySpec } from '../../../infra/spec.js';
import { defaultStack } from './support/stack.js';

type Resource = { Type: string; Properties: Record<string, any> };
const { template } = defaultStack();
const resources = (template.toJSON() as { Resources: Record<string, Resource> }).Resources;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

/** The env var a resource is handed to functions under ({Ref: id} in some function's environment). */
const envNames = new Map<string, Set<string>>();
for (const [, f] of ofType('AWS::Lambda::Function')) {
  for (const [name, value] of Object.entries<any>(f.Properties.Environment?.Variables ?? {})) {
    if (value && typeof value === 'object' && typeof value.Ref === 'string') {
      if (!envNames.has(value.Ref)) envNames.set(value.Ref, new Set());
      envNames.get(value.Ref)!.add(name);
    }
  }
}
function resourceByEnv(type: string, envVar: string): [string, Resource] {
  const found = ofType(type).filter(([id]) => envNames.get(id)?.has(envVar));
  assert.equal(found.length, 1, `exactly one ${type} handed to functions as ${envVar}`);
  return found[0]!;
}
const arnOf = (v: any): string | undefined => v?.['Fn::GetAtt']?.[0];

function keySchema(schema: { AttributeName: string; KeyType: string }[], types: Map<string, string>) {
  const key = (kind: string): KeySpec | undefined => {
    const k = schema.find((s) => s.KeyType === kind);
    return k ? { name: k.AttributeName, type: types.get(k.AttributeName) as KeySpec['type'] } : undefined;
  };
  return { partitionKey: key('HASH'), sortKey: key('RANGE') };
}

test('every table of the spec: keys, GSIs (projection) and TTL attribute', () => {
  assert.equal(ofType('AWS::DynamoDB::Table').length, INFRA.tables.length, 'no table outside the spec');
  for (const table of INFRA.tables) {
    const [, r] = resourceByEnv('AWS::DynamoDB::Table', table.envVar);
    const types = new Map<string, string>(
      r.Properties.AttributeDefinitions.map((a: any) => [a.AttributeName, a.AttributeType]),
    );
    assert.deepEqual(
      keySchema(r.Properties.KeySchema, types),
      { partitionKey: table.partitionKey, sortKey: table.sortKey },
      table.logicalName,
    );
    assert.deepEqual(
      r.Properties.TimeToLiveSpecification,
      { AttributeName: table.ttlAttribute, Enabled: true },
      table.logicalName,
    );
    const indexes = (r.Properties.GlobalSecondaryIndexes ?? []).map((g: any) => ({
      name: g.IndexName,
      ...keySchema(g.KeySchema, types),
      keysOnly: g.Projection.ProjectionType === 'KEYS_ONLY',
    }));
    assert.deepEqual(
      indexes.sort((a: any, b: any) => a.name.localeCompare(b.name)),
      table.indexes
        .map((i) => ({ name: i.name, partitionKey: i.partitionKey, sortKey: i.sortKey, keysOnly: i.keysOnly === true }))
        .sort((a, b) => a.name.localeCompare(b.name)),
      `${table.logicalName} indexes`,
    );
  }
});

test('every queue of the spec: visibility timeout, retention and redrive to its dead-letter queue', () => {
  for (const queue of INFRA.queues) {
    const [, r] = resourceByEnv('AWS::SQS::Queue', queue.envVar);
    assert.equal(r.Properties.VisibilityTimeout, queue.visibilityTimeoutSeconds, `${queue.logicalName} visibility`);
    assert.equal(r.Properties.MessageRetentionPeriod, queue.retentionSeconds, `${queue.logicalName} retention`);
    if (!queue.deadLetter) {
      assert.equal(r.Properties.RedrivePolicy, undefined, `${queue.logicalName} is itself a dead-letter queue`);
      continue;
    }
    const [dlqId] = resourceByEnv('AWS::SQS::Queue', QUEUES[queue.deadLetter.queue].envVar);
    assert.equal(
      arnOf(r.Properties.RedrivePolicy.deadLetterTargetArn),
      dlqId,
      `${queue.logicalName} redrives to ${queue.deadLetter.queue}`,
    );
    assert.equal(
      r.Properties.RedrivePolicy.maxReceiveCount,
      queue.deadLetter.maxReceiveCount,
      `${queue.logicalName} maxReceiveCount`,
    );
  }
});

test('the topic: its SQS subscriptions keep the SNS envelope', () => {
  for (const topic of INFRA.topics) {
    const [topicId] = resourceByEnv('AWS::SNS::Topic', topic.envVar);
    const subscribed = ofType('AWS::SNS::Subscription')
      .filter(([, s]) => s.Properties.TopicArn?.Ref === topicId && s.Properties.Protocol === 'sqs')
      .map(([, s]) => {
        assert.notEqual(s.Properties.RawMessageDelivery, true, 'envelope kept');
        return arnOf(s.Properties.Endpoint);
      });
    assert.deepEqual(
      subscribed.sort(),
      topic.queueSubscriptions.map((q) => resourceByEnv('AWS::SQS::Queue', QUEUES[q].envVar)[0]).sort(),
    );
  }
});

test('every function: timeout, memory, and the queue trigger or schedule the spec gives it', () => {
  const byName = new Map(
    ofType('AWS::Lambda::Function').map(([id, r]) => [
      r.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME as FunctionName,
      { id, r },
    ]),
  );
  for (const [name, spec] of Object.entries(FUNCTIONS) as [FunctionName, (typeof FUNCTIONS)[FunctionName]][]) {
    const f = byName.get(name);
    assert.ok(f, `function ${name}`);
    assert.equal(f.r.Properties.Timeout, spec.timeoutSeconds, `${name} timeout`);
    assert.equal(f.r.Properties.MemorySize, spec.memoryMb, `${name} memory`);
    const mappings = ofType('AWS::Lambda::EventSourceMapping').filter(
      ([, m]) => m.Properties.FunctionName?.Ref === f.id,
    );
    const rules = ofType('AWS::Events::Rule').filter(([, rule]) =>
      rule.Properties.Targets.some((t: any) => arnOf(t.Arn) === f.id),
    );
    const trigger = spec.trigger;
    if (trigger.kind === 'queue') {
      assert.equal(mappings.length, 1, `${name}: one event source mapping`);
      const m = mappings[0]![1].Properties;
      assert.equal(
        arnOf(m.EventSourceArn),
        resourceByEnv('AWS::SQS::Queue', QUEUES[trigger.queue].envVar)[0],
        `${name} reads ${trigger.queue}`,
      );
      assert.equal(m.BatchSize, trigger.batchSize);
      assert.equal(m.MaximumBatchingWindowInSeconds, trigger.maxBatchingWindowSeconds || undefined);
      assert.deepEqual(m.FunctionResponseTypes, ['ReportBatchItemFailures']);
      assert.equal(m.ScalingConfig.MaximumConcurrency, trigger.maxConcurrency);
    } else assert.equal(mappings.length, 0, `${name}: no event source mapping`);
    if (trigger.kind === 'schedule') {
      assert.equal(rules.length, 1, `${name}: one schedule`);
      const minutes = trigger.everyMinutes;
      assert.equal(rules[0]![1].Properties.ScheduleExpression, `rate(${minutes} minute${minutes === 1 ? '' : 's'})`);
    } else assert.equal(rules.length, 0, `${name}: no schedule`);
  }
});
