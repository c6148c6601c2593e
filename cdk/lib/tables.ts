/**
 * The five DynamoDB tables of docs/architecture.md ("Data model"): keys, GSIs and TTL attributes exactly as
 * documented. On-demand billing, point-in-time recovery, encryption with the account's AWS-managed KMS key
 * (aws/dynamodb: key usage visible in CloudTrail, no key policy to keep, and no kms:* grants on the roles).
 * test/integration/cdk/infra-spec-drift.test.ts checks these against local/infra-spec.ts.
 */
import { CfnResource, RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { specName } from './spec-metadata.js';

export type TableKey = 'fleet' | 'jobs' | 'events' | 'alerts' | 'idempotency';

interface KeyDef {
  name: string;
  type: AttributeType;
}
export interface TableDef {
  envVar: string;
  partitionKey: KeyDef;
  sortKey?: KeyDef;
  ttlAttribute: string;
  /** keysOnly: the index copies only the keys (an index that is only counted or listed by key). */
  indexes: { name: string; partitionKey: KeyDef; sortKey?: KeyDef; keysOnly?: boolean }[];
}

const S = AttributeType.STRING;
const N = AttributeType.NUMBER;

export const TABLES: Record<TableKey, TableDef> = {
  fleet: {
    envVar: 'FLEET_TABLE',
    partitionKey: { name: 'pk', type: S },
    sortKey: { name: 'sk', type: S },
    ttlAttribute: 'expiresAt',
    indexes: [
      { name: 'devices', partitionKey: { name: 'entity', type: S }, sortKey: { name: 'pk', type: S } },
      // Sparse, the other way round: only offline devices carry offlineShard. The evaluator counts it each run
      // (the devices_offline gauge behind the DevicesOffline alarm); keys only, so a count reads ~100 B a device.
      { name: 'byOffline', partitionKey: { name: 'offlineShard', type: S }, sortKey: { name: 'offlineAt', type: S }, keysOnly: true },
    ],
  },
  jobs: {
    envVar: 'JOBS_TABLE',
    partitionKey: { name: 'jobId', type: S },
    ttlAttribute: 'expiresAt',
    indexes: [
      { name: 'outbox', partitionKey: { name: 'outboxShard', type: S }, sortKey: { name: 'createdAt', type: S } },
      { name: 'pendingByDevice', partitionKey: { name: 'pendingDeviceId', type: S }, sortKey: { name: 'createdAt', type: S } },
      { name: 'timeouts', partitionKey: { name: 'timeoutShard', type: S }, sortKey: { name: 'timeoutAtEpoch', type: N } },
      { name: 'byDevice', partitionKey: { name: 'deviceId', type: S }, sortKey: { name: 'createdAt', type: S } },
    ],
  },
  events: {
    envVar: 'EVENTS_TABLE',
    partitionKey: { name: 'pk', type: S },
    sortKey: { name: 'sk', type: S },
    ttlAttribute: 'expiresAt',
    indexes: [{ name: 'byDay', partitionKey: { name: 'day', type: S }, sortKey: { name: 'sk', type: S } }],
  },
  alerts: {
    envVar: 'ALERTS_TABLE',
    partitionKey: { name: 'pk', type: S },
    sortKey: { name: 'sk', type: S },
    ttlAttribute: 'expiresAt',
    indexes: [],
  },
  idempotency: {
    envVar: 'IDEMPOTENCY_TABLE',
    partitionKey: { name: 'id', type: S },
    // Powertools idempotency's attribute name.
    ttlAttribute: 'expiration',
    indexes: [],
  },
};

export interface FleetTablesProps {
  /** Retain tables when the stack is deleted (default); throw-away stages may destroy them. */
  destroyOnDelete: boolean;
}

export class FleetTables extends Construct {
  readonly tables: Record<TableKey, Table>;

  constructor(scope: Construct, id: string, props: FleetTablesProps) {
    super(scope, id);
    const entries = (Object.keys(TABLES) as TableKey[]).map((key) => {
      const def = TABLES[key];
      const table = new Table(this, pascal(key), {
        partitionKey: def.partitionKey,
        ...(def.sortKey ? { sortKey: def.sortKey } : {}),
        billingMode: BillingMode.PAY_PER_REQUEST,
        encryption: TableEncryption.AWS_MANAGED,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        timeToLiveAttribute: def.ttlAttribute,
        deletionProtection: !props.destroyOnDelete,
        removalPolicy: props.destroyOnDelete ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      });
      for (const index of def.indexes) {
        table.addGlobalSecondaryIndex({
          indexName: index.name,
          partitionKey: index.partitionKey,
          ...(index.sortKey ? { sortKey: index.sortKey } : {}),
          projectionType: index.keysOnly ? ProjectionType.KEYS_ONLY : ProjectionType.ALL,
        });
      }
      specName(table.node.defaultChild as CfnResource, key);
      return [key, table] as const;
    });
    this.tables = Object.fromEntries(entries) as Record<TableKey, Table>;
  }
}

export function pascal(s: string): string {
  return s.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
}
