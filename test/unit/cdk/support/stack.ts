/**
 * The stack under test, synthesized once per test process. Bundling is skipped (context
 * aws:cdk:bundling-stacks = []) to keep template assertions fast; test/integration/cdk/synth.test.ts runs the
 * real `cdk synth` with esbuild.
 *
 * NodejsFunction insists that its entry files exist even without bundling, so these tests need every
 * handler of docs/architecture.md; a missing one fails here with its name, never a silent skip.
 * FLEETMEDIC_CDK_HANDLERS_DIR points the stack at another handlers folder (for working on the CDK while
 * the handlers are still being written); CI never sets it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { FUNCTION_NAMES } from '../../../../cdk/lib/fleet-function.js';
import { buildApp, DEFAULT_SOURCE, type BuildOptions } from '../../../../cdk/lib/synth.js';
import type { SourceLayout } from '../../../../cdk/lib/fleet-function.js';

export function handlerSource(): SourceLayout {
  const dir = process.env.FLEETMEDIC_CDK_HANDLERS_DIR;
  const source = dir ? { ...DEFAULT_SOURCE, handlersDir: dir } : DEFAULT_SOURCE;
  const missing = FUNCTION_NAMES.filter((n) => !existsSync(join(source.handlersDir, `${n}.ts`)));
  if (missing.length) {
    throw new Error(
      `the CDK stack needs every Lambda entry of docs/architecture.md; missing in ${source.handlersDir}: ${missing.map((n) => `${n}.ts`).join(', ')}`,
    );
  }
  return source;
}

export function synthesize(context: Record<string, unknown> = {}, options: BuildOptions = {}) {
  const built = buildApp({ bundling: false, source: handlerSource(), context, ...options });
  const template = Template.fromStack(built.stack);
  return { ...built, template };
}

let cached: ReturnType<typeof synthesize> | undefined;
/** The default-context stack (stage dev), shared by the tests of one file. */
export function defaultStack() {
  cached ??= synthesize();
  return cached;
}
