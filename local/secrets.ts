/** Secrets Manager values the local fleet sets up: the operator bearer token and the Slack webhook URL. */
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { randomBytes } from 'node:crypto';

/** Create the secret, or give it a new value if it exists (the receiver's port changes between runs). */
export async function putSecret(
  name: string,
  value: string,
  description: string,
  client: { endpoint?: string } = {},
): Promise<void> {
  const sm = new SecretsManagerClient({ ...client });
  try {
    try {
      await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
    } catch (err) {
      if (!(err instanceof ResourceNotFoundException)) throw err;
      await sm.send(new CreateSecretCommand({ Name: name, SecretString: value, Description: description }));
    }
  } finally {
    sm.destroy();
  }
}

export async function readSecret(name: string): Promise<string | undefined> {
  const sm = new SecretsManagerClient({});
  try {
    const res = await sm.send(new GetSecretValueCommand({ SecretId: name }));
    return res.SecretString;
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return undefined;
    throw err;
  } finally {
    sm.destroy();
  }
}

/** Operator tokens: recognisable prefix, 32 random bytes. */
export function newOperatorToken(): string {
  return `fmo_${randomBytes(32).toString('base64url')}`;
}
