/**
 * A real AWS wire-protocol emulator for tests: moto_server on a free loopback port (local/moto.ts).
 * If AWS_ENDPOINT_URL is already set (LocalStack, another moto, real AWS), that endpoint is used instead.
 */
import { applyAwsTestEnv, startMoto, type Emulator } from '../../local/moto.js';

export {
  applyAwsTestEnv,
  freePort,
  motoAvailable,
  MOTO_INSTALL_HINT,
  startMoto,
  type Emulator,
} from '../../local/moto.js';

/**
 * The endpoint tests talk to: AWS_ENDPOINT_URL when given, otherwise a moto of our own with DynamoDB calls
 * serialised (local/moto.ts): DynamoDB makes each request atomic, plain moto_server does not, and tests whose
 * subject is a race (one transition out of many writers, no lost count) must test our code, not moto's threads.
 */
export async function ensureEmulator(): Promise<Emulator> {
  const given = process.env.AWS_ENDPOINT_URL;
  if (given) {
    applyAwsTestEnv(given);
    return { endpoint: given, stop: async () => {} };
  }
  const moto = await startMoto({ serialised: true });
  applyAwsTestEnv(moto.endpoint);
  return moto;
}
