/**
 * Reads the control plane's stateful resources back out of a synthesized CloudFormation template, in the
 * shape of local/infra-spec.ts (InfraSpec), so local mode and tests can be checked against, or built from,
 * what is actually deployed.
 *
 * Which resources: every table, queue and topic that some Lambda function receives in its environment
 * (`FLEET_TABLE: {Ref: ...}`: that env var is the spec's envVar), plus the dead-letter queues their redrive
 * policies name. Cloud-only plumbing (schedule failure queues, KMS keys...) is not part of the spec.
 * Which local name: the `fleetmedic:spec-name` metadata the constructs put on each of them.
 */
import type { InfraSpec, QueueSpec, TableSpec, TopicSpec } from '../local/infra-spec.js';
import { SPEC_NAME_METADATA } from './lib/spec-metadata.js';

interface CfnResourceJson {
  Type: string;
  Properties?: Record<string, any>;
  Metadata?: Record<string, unknown>;
}
export interface CfnTemplateJson {
  Resources: Record<string, CfnResourceJson>;
}

/** CloudFormation's defaults for properties CDK leaves out. */
const SQS_DEFAULT_VISIBILITY = 30;
const SQS_DEFAULT_RETENTION = 4 * 86400;

export function specFromTemplate(template: CfnTemplateJson | { toJSON(): Record<string, any> }): InfraSpec {
  const json = ('toJSON' in template ? template.toJSON() : template) as CfnTemplateJson;
  const resources = json.Resources ?? {};
  const envByResource = environmentReferences(resources);

  const nameOf = (id: string): string => {
    const name = resources[id]?.Metadata?.[SPEC_NAME_METADATA];
    if (typeof name !== 'string') throw new Error(`specFromTemplate: resource ${id} is referenced by a function but has no ${SPEC_NAME_METADATA} metadata`);
    return name;
  };
  const envOf = (id: string): string => {
    const vars = envByResource.get(id);
    if (!vars || vars.size === 0) throw new Error(`specFromTemplate: no function environment variable references ${id} (${nameOf(id)})`);
    if (vars.size > 1) throw new Error(`specFromTemplate: ${id} is exposed under several names: ${[...vars].join(', ')}`);
    return [...vars][0]!;
  };

  const spec: InfraSpec = { tables: [], queues: [], topics: [] };
  const queueIds = new Set<string>();
  for (const id of envByResource.keys()) {
    const r = resources[id]!;
    if (r.Type === 'AWS::DynamoDB::Table') spec.tables.push(tableSpec(nameOf(id), envOf(id), r.Properties ?? {}));
    else if (r.Type === 'AWS::SQS::Queue') queueIds.add(id);
    else if (r.Type === 'AWS::SNS::Topic') spec.topics.push(topicSpec(id, nameOf(id), envOf(id), resources, nameOf));
  }
  // The dead-letter queues named by the redrive policies belong to the spec too.
  for (const id of [...queueIds]) {
    const dlq = redriveTarget(resources[id]!.Properties ?? {});
    if (dlq) queueIds.add(dlq.queueId);
  }
  for (const id of queueIds) {
    const props = resources[id]!.Properties ?? {};
    const dlq = redriveTarget(props);
    const queue: QueueSpec = {
      logicalName: nameOf(id),
      envVar: envOf(id),
      visibilityTimeoutSeconds: Number(props.VisibilityTimeout ?? SQS_DEFAULT_VISIBILITY),
      retentionSeconds: Number(props.MessageRetentionPeriod ?? SQS_DEFAULT_RETENTION),
    };
    if (dlq) queue.deadLetter = { queue: nameOf(dlq.queueId), maxReceiveCount: dlq.maxReceiveCount };
    spec.queues.push(queue);
  }
  return spec;
}

/** resource logical id → the env var names under which functions receive it (as a Ref). */
function environmentReferences(resources: Record<string, CfnResourceJson>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::Lambda::Function') continue;
    const vars: Record<string, unknown> = r.Properties?.Environment?.Variables ?? {};
    for (const [name, value] of Object.entries(vars)) {
      const ref = refOf(value);
      if (!ref) continue;
      const type = resources[ref]?.Type;
      if (type !== 'AWS::DynamoDB::Table' && type !== 'AWS::SQS::Queue' && type !== 'AWS::SNS::Topic') continue;
      if (!out.has(ref)) out.set(ref, new Set());
      out.get(ref)!.add(name);
    }
  }
  return out;
}

function refOf(value: unknown): string | undefined {
  if (value && typeof value === 'object' && 'Ref' in value && typeof (value as { Ref: unknown }).Ref === 'string') return (value as { Ref: string }).Ref;
  return undefined;
}

function getAttId(value: unknown, attribute: string): string | undefined {
  const att = (value as { 'Fn::GetAtt'?: unknown } | undefined)?.['Fn::GetAtt'];
  if (Array.isArray(att) && att[1] === attribute && typeof att[0] === 'string') return att[0];
  return undefined;
}

function redriveTarget(props: Record<string, any>): { queueId: string; maxReceiveCount: number } | undefined {
  const policy = props.RedrivePolicy;
  if (!policy) return undefined;
  const queueId = getAttId(policy.deadLetterTargetArn, 'Arn');
  if (!queueId) throw new Error(`specFromTemplate: unsupported redrive target ${JSON.stringify(policy.deadLetterTargetArn)}`);
  return { queueId, maxReceiveCount: Number(policy.maxReceiveCount) };
}

function tableSpec(logicalName: string, envVar: string, props: Record<string, any>): TableSpec {
  const types = new Map<string, 'S' | 'N'>(
    (props.AttributeDefinitions ?? []).map((a: { AttributeName: string; AttributeType: 'S' | 'N' }) => [a.AttributeName, a.AttributeType]),
  );
  const keys = (schema: { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[]) => {
    const key = (kind: 'HASH' | 'RANGE') => {
      const k = schema.find((s) => s.KeyType === kind);
      if (!k) return undefined;
      const type = types.get(k.AttributeName);
      if (!type) throw new Error(`specFromTemplate: table ${logicalName}: no attribute definition for ${k.AttributeName}`);
      return { name: k.AttributeName, type };
    };
    const partitionKey = key('HASH');
    if (!partitionKey) throw new Error(`specFromTemplate: table ${logicalName}: no partition key`);
    const sortKey = key('RANGE');
    return { partitionKey, ...(sortKey ? { sortKey } : {}) };
  };
  const ttl = props.TimeToLiveSpecification;
  return {
    logicalName,
    envVar,
    ...keys(props.KeySchema ?? []),
    ...(ttl?.Enabled ? { ttlAttribute: String(ttl.AttributeName) } : {}),
    indexes: (props.GlobalSecondaryIndexes ?? []).map((g: { IndexName: string; KeySchema: never; Projection?: { ProjectionType?: string } }) => ({
      name: g.IndexName,
      ...keys(g.KeySchema),
      ...(g.Projection?.ProjectionType === 'KEYS_ONLY' ? { keysOnly: true } : {}),
    })),
  };
}

function topicSpec(
  topicId: string,
  logicalName: string,
  envVar: string,
  resources: Record<string, CfnResourceJson>,
  nameOf: (id: string) => string,
): TopicSpec {
  const queueSubscriptions: string[] = [];
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::SNS::Subscription' || refOf(r.Properties?.TopicArn) !== topicId || r.Properties?.Protocol !== 'sqs') continue;
    // The spec's subscriptions keep the SNS envelope; a raw-delivery subscription would be a different contract.
    if (r.Properties?.RawMessageDelivery === true || r.Properties?.RawMessageDelivery === 'true') {
      throw new Error(`specFromTemplate: topic ${logicalName} has a raw-delivery SQS subscription; local mode assumes the SNS envelope`);
    }
    const queueId = getAttId(r.Properties?.Endpoint, 'Arn');
    if (!queueId) throw new Error(`specFromTemplate: topic ${logicalName}: unsupported subscription endpoint`);
    queueSubscriptions.push(nameOf(queueId));
  }
  return { logicalName, envVar, queueSubscriptions };
}
