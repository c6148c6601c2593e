/**
 * Builds the app (stage config from context, the stack, cdk-nag's AwsSolutions pack) for cdk/bin/app.ts,
 * the tests and the bundle-size bench, so all three synthesize exactly the same thing.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Validations, type AppProps } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { FleetmedicStack } from './fleetmedic-stack.js';
import type { SourceLayout } from './fleet-function.js';
import { stageConfigFrom } from './stage-config.js';

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_SOURCE: SourceLayout = {
  projectRoot: PROJECT_ROOT,
  handlersDir: join(PROJECT_ROOT, 'functions', 'handlers'),
};

export interface BuildOptions extends AppProps {
  source?: SourceLayout;
  /** false skips esbuild (context aws:cdk:bundling-stacks = []): fast synth for template assertions. */
  bundling?: boolean;
}

export function buildApp(options: BuildOptions = {}): { app: App; stack: FleetmedicStack; nag: AwsSolutionsChecks } {
  const { source = DEFAULT_SOURCE, bundling = true, ...appProps } = options;
  const app = new App({
    ...appProps,
    context: {
      // Feature flags live here rather than in cdk.json so tests and `cdk synth` build the same template.
      '@aws-cdk/aws-iam:minimizePolicies': true,
      '@aws-cdk/core:checkSecretUsage': true,
      ...appProps.context,
      ...(bundling ? {} : { 'aws:cdk:bundling-stacks': [] }),
    },
  });
  const config = stageConfigFrom(app.node);
  const stack = new FleetmedicStack(app, `Fleetmedic-${config.stage}`, {
    config,
    source,
    description: `Fleetmedic control plane (${config.stage})`,
    // Environment-agnostic on purpose: the template is the same on every machine (no region or account
    // baked in), and `cdk deploy` targets whatever account/region the credentials point at.
    tags: { project: 'fleetmedic', stage: config.stage },
  });
  // cdk-nag 3 is a policy-validation plugin: unacknowledged findings fail `cdk synth` / `cdk deploy`.
  const nag = new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true });
  Validations.of(app).addPlugins(nag);
  return { app, stack, nag };
}
