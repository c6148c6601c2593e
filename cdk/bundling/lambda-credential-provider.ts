/**
 * Stands in for `@aws-sdk/credential-provider-node` in the Lambda bundles only (esbuild alias, see
 * cdk/lib/fleet-function.ts). Lambda always gives a function its role's credentials in environment
 * variables, the first link of the SDK's default chain; the rest of that chain (SSO, INI files, web identity,
 * IMDS, the STS/SSO clients behind them) can never be reached there and cost ~90 KB minified per bundle.
 * test/integration/cdk/synth.test.ts runs a bundled handler built with this alias against a real endpoint.
 */
import { fromEnv } from '@aws-sdk/credential-provider-env';

type Init = Parameters<typeof fromEnv>[0];

export const defaultProvider = (init?: Init) => fromEnv(init);
