/**
 * The real thing, offline: `npx cdk synth` through the CLI with cdk.json's app, esbuild bundling included and
 * cdk-nag's validation plugin active (an unacknowledged finding makes synth exit non-zero). Then every
 * function's asset is checked: minified ESM bundle + source map, AWS SDK bundled (no runtime import of it),
 * env-only credential provider, and it loads in a fresh Node process and exports `handler`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FUNCTION_NAMES, METAFILE_CONTEXT } from '../../../cdk/lib/fleet-function.js';
import { PROJECT_ROOT } from '../../../cdk/lib/synth.js';
import { handlerSource } from '../../unit/cdk/support/stack.js';
import { createTestInfra } from '../../support/infra.js';

const outdir = mkdtempSync(join(tmpdir(), 'fleetmedic-synth-'));
after(() => rmSync(outdir, { recursive: true, force: true }));

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} timed out after ${timeoutMs} ms\n${output.slice(-4000)}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

type Resource = { Type: string; Properties: any; Metadata?: Record<string, any> };
let resources: Record<string, Resource>;
const functions = () => Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Function');
const assetDir = (fn: Resource) => join(outdir, fn.Metadata!['aws:asset:path']);
const nameOf = (fn: Resource): string => fn.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME;

before(async () => {
  handlerSource(); // every entry exists, or a clear failure naming the missing ones
  const { code, output } = await run(
    'npx',
    // The metafile (off by default: it is not shipped) lets the test see what went into each bundle.
    ['cdk', 'synth', '--quiet', '--no-notices', '--output', outdir, '--context', `${METAFILE_CONTEXT}=true`],
    // Offline: no telemetry, no instance-metadata probing for a default account.
    { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true', AWS_EC2_METADATA_DISABLED: 'true' },
    9 * 60_000,
  );
  assert.equal(code, 0, `cdk synth failed:\n${output.slice(-6000)}`);
  resources = JSON.parse(readFileSync(join(outdir, 'Fleetmedic-dev.template.json'), 'utf8')).Resources;
});

test('cdk synth produced the stack with one bundled asset per function', () => {
  assert.deepEqual(functions().map(nameOf).sort(), [...FUNCTION_NAMES].sort());
  for (const fn of functions()) {
    const dir = assetDir(fn);
    assert.ok(existsSync(join(dir, 'index.mjs')), `${nameOf(fn)}: ${dir}/index.mjs`);
    assert.ok(existsSync(join(dir, 'index.mjs.map')), `${nameOf(fn)}: source map`);
    assert.equal(fn.Properties.Code.S3Key, `${fn.Metadata!['aws:asset:path'].replace(/^asset\./, '')}.zip`);
  }
});

test('cdk-nag ran during synth (acknowledgements with reasons are in the template)', () => {
  const acknowledged = Object.values(resources).flatMap((r) => r.Metadata?.cdk_nag?.rules_to_suppress ?? []);
  assert.ok(acknowledged.some((a: { id: string }) => a.id === 'AwsSolutions-L1'));
  const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));
  assert.deepEqual(
    report.pluginReports.flatMap((p: { violations?: unknown[] }) => p.violations ?? []),
    [],
  );
});

test('the acknowledgement of Resource "*" (cdk-nag IAM5) covers only the X-Ray policies, which hold nothing else', () => {
  const acknowledging = Object.entries(resources).filter(([, r]) =>
    (r.Metadata?.cdk_nag?.rules_to_suppress ?? []).some(
      (a: { id: string }) => a.id === 'AwsSolutions-IAM5[Resource::*]',
    ),
  );
  assert.equal(acknowledging.length, FUNCTION_NAMES.length, acknowledging.map(([id]) => id).join(', '));
  for (const [id, r] of acknowledging) {
    assert.equal(r.Type, 'AWS::IAM::Policy', id);
    assert.deepEqual(
      r.Properties.PolicyDocument.Statement,
      [{ Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], Effect: 'Allow', Resource: '*' }],
      id,
    );
  }
  for (const fn of functions()) assert.deepEqual(fn.Properties.TracingConfig, { Mode: 'Active' }, nameOf(fn));
});

test('bundles: minified ESM, AWS SDK v3 inside (no runtime import), env-only credential chain, source maps', () => {
  for (const fn of functions()) {
    const name = nameOf(fn);
    const code = readFileSync(join(assetDir(fn), 'index.mjs'), 'utf8');
    // Minified: a few very long lines (template literals keep their own newlines).
    assert.ok(code.length / code.split('\n').length > 2000, `${name}: minified`);
    assert.doesNotMatch(code, /from\s*["']@aws-sdk\//, `${name}: the SDK is bundled, not imported at runtime`);
    assert.match(code.slice(0, 200), /createRequire/, `${name}: ESM require shim banner`);
    const map = JSON.parse(readFileSync(join(assetDir(fn), 'index.mjs.map'), 'utf8'));
    assert.ok(
      map.sources.some((s: string) => s.includes(`functions/handlers/${name}.ts`)),
      `${name}: map points at the TypeScript source`,
    );
    const meta = JSON.parse(readFileSync(join(assetDir(fn), 'index.meta.json'), 'utf8'));
    const inputs = Object.keys(meta.inputs).join('\n');
    assert.ok(inputs.includes('@aws-sdk/client-dynamodb'), `${name}: SDK bundled`);
    assert.ok(!inputs.includes('@aws-sdk/credential-provider-node/'), `${name}: default credential chain replaced`);
    assert.ok(!inputs.includes('@aws-sdk/nested-clients/'), `${name}: no STS/SSO clients`);
    assert.ok(inputs.includes('cdk/bundling/lambda-credential-provider.ts'), `${name}: env credential provider`);
  }
});

test('every bundle loads in a fresh Node process with its Lambda environment and exports handler()', async () => {
  for (const fn of functions()) {
    // Values from the template; references (table names, queue URLs) get placeholders: loading must not
    // need AWS, the handlers create their clients on first use.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      AWS_REGION: 'us-east-1',
      AWS_LAMBDA_FUNCTION_NAME: nameOf(fn),
    };
    for (const [k, v] of Object.entries(fn.Properties.Environment.Variables as Record<string, unknown>))
      env[k] = typeof v === 'string' ? v : `placeholder-${k}`;
    const file = join(assetDir(fn), 'index.mjs');
    const { code, output } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(file)}); if (typeof m.handler !== 'function') { console.error('no handler export'); process.exit(3); }`,
      ],
      env,
      60_000,
    );
    assert.equal(code, 0, `${nameOf(fn)} failed to load:\n${output.slice(-3000)}`);
  }
});

test('a bundled handler runs against a real AWS endpoint with env-only credentials (outbox publisher on moto)', async () => {
  const infra = await createTestInfra();
  const fn = functions().find((f) => nameOf(f) === 'outbox-publisher')!;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY,
    AWS_ENDPOINT_URL: infra.emulator.endpoint,
    AWS_LAMBDA_FUNCTION_NAME: 'outbox-publisher',
    POWERTOOLS_SERVICE_NAME: 'outbox-publisher',
    POWERTOOLS_METRICS_NAMESPACE: 'FleetmedicTest',
    JOBS_TABLE: infra.env.JOBS_TABLE,
    JOBS_QUEUE_URL: infra.env.JOBS_QUEUE_URL,
    JOBS_DLQ_URL: infra.env.JOBS_DLQ_URL,
  };
  const context = {
    functionName: 'outbox-publisher',
    functionVersion: '$LATEST',
    awsRequestId: 'test-request',
    memoryLimitInMB: '256',
    getRemainingTimeInMillis: () => 30_000,
  };
  const script = `
    const m = await import(${JSON.stringify(join(assetDir(fn), 'index.mjs'))});
    const context = { ...${JSON.stringify(context)}, getRemainingTimeInMillis: () => 30000 };
    await m.handler({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} }, context);
    console.log('HANDLER_OK');`;
  const { code, output } = await run(process.execPath, ['--input-type=module', '-e', script], env, 60_000);
  assert.equal(code, 0, output.slice(-3000));
  assert.match(output, /HANDLER_OK/);
  // The run reached DynamoDB and SQS: it emitted its outbox metrics as EMF.
  assert.match(output, /outbox_unpublished_count/);
});
