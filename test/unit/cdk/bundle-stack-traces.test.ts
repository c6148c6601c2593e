/**
 * A deployed bundle runs without --enable-source-maps, yet a logged error's stack names the .ts sources: the
 * device-api handler, bundled as the stack bundles it (minified ESM, source map beside it), is invoked in a fresh
 * Node process with its table missing from the environment; the "unhandled error" it logs must point into
 * functions/*.ts, not into the minified index.mjs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { build } from 'esbuild';
import { ESM_REQUIRE_SHIM, LAMBDA_CREDENTIALS } from '../../../cdk/lib/fleet-function.js';
import { apiEvent } from '../../support/apigw.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'fleetmedic-stack-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a logged error in a bundled handler has a stack that maps to the .ts sources', async () => {
  const outfile = join(dir, 'index.mjs');
  await build({
    entryPoints: [join(ROOT, 'functions', 'handlers', 'device-api.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    mainFields: ['module', 'main'],
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    banner: { js: ESM_REQUIRE_SHIM },
    alias: { '@aws-sdk/credential-provider-node': LAMBDA_CREDENTIALS },
    logLevel: 'silent',
  });
  assert.ok(existsSync(`${outfile}.map`), 'the source map sits beside the bundle, as in the Lambda asset');

  const event = apiEvent({
    method: 'POST',
    path: '/v1/devices/dev-1/sync',
    token: `dev-1.${'A'.repeat(43)}`,
    body: {},
  });
  const context = {
    functionName: 'device-api',
    functionVersion: '$LATEST',
    awsRequestId: 'req-1',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:device-api',
    memoryLimitInMB: '512',
  };
  const script = `
    const { handler } = await import(${JSON.stringify(pathToFileURL(outfile).href)});
    const res = await handler(${JSON.stringify(event)}, { ...${JSON.stringify(context)}, getRemainingTimeInMillis: () => 10000 });
    process.stderr.write('status ' + res.statusCode + '\\n');`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    // No FLEET_TABLE: the device lookup fails with a configuration error, which the API answers as a 500.
    env: {
      PATH: process.env.PATH ?? '',
      AWS_REGION: 'eu-west-1',
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_SERVICE_NAME: 'device-api',
    },
    timeout: 60_000,
  });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stderr, /status 500/);
  assert.doesNotMatch(run.stderr, /--enable-source-maps/);
  // Powertools writes ERROR records to stderr, the rest to stdout.
  const logged = `${run.stdout}\n${run.stderr}`
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { message?: string; error?: { stack?: string; message?: string } })
    .find((l) => l.message === 'unhandled error');
  assert.ok(logged?.error?.stack, `an "unhandled error" log with a stack in:\n${run.stdout}\n${run.stderr}`);
  const stack = logged.error.stack;
  assert.match(logged.error.message ?? '', /FLEET_TABLE/);
  const frames = stack.split('\n').slice(1);
  assert.match(frames[0] ?? '', /functions\/lib\/config\.ts:\d+:\d+/, `the throwing frame names its source:\n${stack}`);
  assert.ok(
    frames.some((f) => /functions\/adapters\/devices-repo\.ts:\d+:\d+/.test(f)),
    `the caller too:\n${stack}`,
  );
  assert.ok(!frames.some((f) => /index\.mjs:\d+:\d+/.test(f)), `no frame left in the minified bundle:\n${stack}`);
});
