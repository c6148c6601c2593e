/**
 * The six DynamoDB tables as infra/spec.ts describes them (keys, GSIs, TTL; docs/architecture.md "Data model").
 * On-demand billing, point-in-time recovery, encryption with the account's AWS-managed KMS key (aws/dynamodb:
 * key usage visible in CloudTrail, no key policy to keep, and no kms:* grants on the roles).
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TABLES, type KeySpec, type TableKey } from '../../infra/spec.js';

export { TABLES, type TableKey };

const ATTRIBUTE_TYPES = { S: AttributeType.STRING, N: AttributeType.NUMBER } as const;
const cdkKey = (k: KeySpec) => ({ name: k.name, type: ATTRIBUTE_TYPES[k.type] });

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
        partitionKey: cdkKey(def.partitionKey),
        ...(def.sortKey ? { sortKey: cdkKey(def.sortKey) } : {}),
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
          partitionKey: cdkKey(index.partitionKey),
          ...(index.sortKey ? { sortKey: cdkKey(index.sortKey) } : {}),
          projectionType: index.keysOnly ? ProjectionType.KEYS_ONLY : ProjectionType.ALL,
        });
      }
      return [key, table] as const;
    });
    this.tables = Object.fromEntries(entries) as Record<TableKey, Table>;
  }
}

export function pascal(s: string): string {
  return s.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
}
