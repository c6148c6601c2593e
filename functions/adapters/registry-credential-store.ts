/**
 * Registry credentials as operators manage them: create/rotate, delete, check a name exists. The value goes
 * in and never comes out here (this adapter cannot read it: the operator function has no GetSecretValue on
 * the credentials). Secrets Manager encrypts every value at rest (its AWS-managed key).
 */
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { RegistryCredentialInput } from '../contract/registry.js';
import { config } from '../lib/config.js';

let client: SecretsManagerClient | undefined;
const secrets = () =>
  (client ??= new SecretsManagerClient({ requestHandler: { requestTimeout: 3000, connectionTimeout: 1000 } }));
const secretName = (name: string) => `${config.registrySecretPrefix}${name}`;
const errName = (err: unknown) => (err as { name?: string } | null)?.name;

/** Deleted moments ago: Secrets Manager still holds the name (a force delete completes asynchronously). */
export class CredentialBeingDeleted extends Error {
  constructor(name: string) {
    super(`registry credential ${name} is still being deleted`);
    this.name = 'CredentialBeingDeleted';
  }
}

/** Creates the credential or rotates it (a new secret version). `created` tells which. */
export async function storeRegistryCredential(
  name: string,
  value: RegistryCredentialInput,
): Promise<{ created: boolean }> {
  const SecretString = JSON.stringify({ registry: value.registry, username: value.username, password: value.password });
  const put = () => secrets().send(new PutSecretValueCommand({ SecretId: secretName(name), SecretString }));
  try {
    await put();
    return { created: false };
  } catch (err) {
    if (errName(err) === 'InvalidRequestException') throw new CredentialBeingDeleted(name);
    if (errName(err) !== 'ResourceNotFoundException') throw err;
  }
  try {
    await secrets().send(
      new CreateSecretCommand({
        Name: secretName(name),
        SecretString,
        Description: `Fleetmedic registry credential for ${value.registry}`,
      }),
    );
    return { created: true };
  } catch (err) {
    // Another operator created it between our two calls: theirs or ours, the last write wins, as for a rotation.
    if (errName(err) === 'ResourceExistsException') {
      await put();
      return { created: false };
    }
    if (errName(err) === 'InvalidRequestException') throw new CredentialBeingDeleted(name);
    throw err;
  }
}

/**
 * Deletes at once, without Secrets Manager's 7-30 day recovery window: removing a credential means "stop
 * handing it out", and a pending deletion would block re-creating the name for weeks. Returns false when
 * there was nothing to delete.
 */
export async function deleteRegistryCredential(name: string): Promise<boolean> {
  if (!(await registryCredentialExists(name))) return false;
  try {
    await secrets().send(new DeleteSecretCommand({ SecretId: secretName(name), ForceDeleteWithoutRecovery: true }));
    return true;
  } catch (err) {
    if (errName(err) === 'ResourceNotFoundException') return false;
    throw err;
  }
}

/** Metadata only (DescribeSecret): the value is never read to answer this. */
export async function registryCredentialExists(name: string): Promise<boolean> {
  try {
    const res = await secrets().send(new DescribeSecretCommand({ SecretId: secretName(name) }));
    return !res.DeletedDate;
  } catch (err) {
    if (errName(err) === 'ResourceNotFoundException') return false;
    throw err;
  }
}
