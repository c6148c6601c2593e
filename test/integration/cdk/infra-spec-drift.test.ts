/**
 * local/infra-spec.ts (what tests and `npm start` create on moto) must describe the same tables, queues and
 * topic as the CDK stack: keys, GSIs, TTL attributes, visibility timeouts, retention, redrive, subscriptions.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { infraSpec, type InfraSpec } from '../../../local/infra-spec.js';
import { specFromTemplate } from '../../../cdk/infra-spec-from-template.js';
import { defaultStack } from '../../unit/cdk/support/stack.js';

const byName = <T extends { logicalName: string }>(xs: T[]) => [...xs].sort((a, b) => a.logicalName.localeCompare(b.logicalName));

function normalize(spec: InfraSpec): InfraSpec {
  return {
    tables: byName(spec.tables).map((t) => ({ ...t, indexes: [...t.indexes].sort((a, b) => a.name.localeCompare(b.name)) })),
    queues: byName(spec.queues),
    topics: byName(spec.topics).map((t) => ({ ...t, queueSubscriptions: [...t.queueSubscriptions].sort() })),
  };
}

const { template } = defaultStack();
const fromCdk = normalize(specFromTemplate(template));
const local = normalize(infraSpec);

test('tables: keys, GSIs and TTL attributes match local/infra-spec.ts', () => {
  assert.deepEqual(fromCdk.tables, local.tables);
});

test('queues: visibility timeouts, retention and redrive (maxReceiveCount) match local/infra-spec.ts', () => {
  assert.deepEqual(fromCdk.queues, local.queues);
});

test('topic: env var and SQS subscriptions (envelope kept) match local/infra-spec.ts', () => {
  assert.deepEqual(fromCdk.topics, local.topics);
});

test('specFromTemplate reads what it claims: a changed template changes the spec', () => {
  const json = structuredClone(template.toJSON()) as { Resources: Record<string, { Type: string; Properties: Record<string, any> }> };
  const jobsQueue = Object.values(json.Resources).find((r) => r.Type === 'AWS::SQS::Queue' && r.Properties.RedrivePolicy && r.Properties.VisibilityTimeout === 180);
  assert.ok(jobsQueue, 'a work queue with a redrive policy');
  jobsQueue.Properties.RedrivePolicy.maxReceiveCount = 2;
  const changed = normalize(specFromTemplate(json));
  assert.notDeepEqual(changed.queues, local.queues);
});
