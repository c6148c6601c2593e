/**
 * Marks a resource with the logical name local/infra-spec.ts uses for it (`fleet`, `jobs-dlq`, `alert-topic`...),
 * as CloudFormation metadata. cdk/infra-spec-from-template.ts reads it back, so the template alone says which
 * deployed resource is which local one; no naming convention has to be guessed.
 */
import type { CfnResource } from 'aws-cdk-lib';

export const SPEC_NAME_METADATA = 'fleetmedic:spec-name';

export function specName(resource: CfnResource, name: string): void {
  resource.addMetadata(SPEC_NAME_METADATA, name);
}
