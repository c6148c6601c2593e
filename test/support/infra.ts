/**
 * Per-test-file control-plane resources on the emulator, with a unique prefix so test files
 * running side by side never see each other's data. Sets the handler environment in process.env.
 */
import { randomBytes } from 'node:crypto';
import { provision } from '../../local/provision.js';
import { resetClients } from '../../functions/lib/aws.js';
import { resetRegistryCredentialCache } from '../../functions/adapters/registry-credentials.js';
import { ensureEmulator, type Emulator } from './moto.js';

export interface TestInfra {
  prefix: string;
  env: Record<string, string>;
  emulator: Emulator;
  close(): Promise<void>;
}

export async function createTestInfra(extraEnv: Record<string, string> = {}): Promise<TestInfra> {
  const emulator = await ensureEmulator();
  const prefix = `t${randomBytes(4).toString('hex')}`;
  const env = await provision(prefix);
  // Each file's registry credentials live under its own prefix (Secrets Manager is shared on the emulator).
  Object.assign(
    process.env,
    env,
    {
      POWERTOOLS_METRICS_NAMESPACE: 'FleetmedicTest',
      POWERTOOLS_DEV: 'false',
      REGISTRY_SECRET_PREFIX: `${prefix}/registry/`,
    },
    extraEnv,
  );
  resetClients();
  resetRegistryCredentialCache();
  return { prefix, env, emulator, close: () => emulator.stop() };
}
