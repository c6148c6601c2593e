/**
 * Per Lambda handler (functions/handlers/*.ts): the esbuild bundle as deployed (platform node, target node22,
 * ESM, minified, everything bundled incl. AWS SDK v3: no externals) and the cost
 * of importing that bundle in a fresh Node process, relative to an empty handler bundled the same way and
 * measured in the same run (median of several interleaved runs: these machines are shared and noisy).
 * The build options mirror cdk/lib/fleet-function.ts (ES module builds of dependencies first, the Lambda-only
 * credential provider alias) so the figures are those of the deployed bundles. A row per handler names the
 * largest contributors. The budgets these bundles are held to (cold import and own code against a floor of
 * the same dependencies) are in bench/suites/bundles.ts, measured on the CDK's own assets.
 *
 * "floor" rows bundle, the same way, handlers with no application code at all: only the parts the issues make
 * every function carry (the AWS SDK v3 clients bundled, Powertools Logger/Metrics/Tracer on middy). They say
 * what no amount of work on our own code can take below, which is what a budget has to be set against.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import type { BenchRow } from '../run.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const HANDLERS = join(ROOT, 'functions', 'handlers');
const RUNS = Number(process.env.BENCH_IMPORT_RUNS ?? 7);

// ESM bundles of CommonJS dependencies still call require() for node builtins.
const BANNER = "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

// The CDK bundles swap the SDK's default credential chain for env-only credentials (see that file).
const LAMBDA_CREDENTIALS = join(ROOT, 'cdk', 'bundling', 'lambda-credential-provider.ts');

const POWERTOOLS = `
import middy from '@middy/core';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
const logger = new Logger();
const metrics = new Metrics();
const tracer = new Tracer();
const wrap = (fn: () => Promise<unknown>) =>
  middy(fn).use(injectLambdaContext(logger)).use(captureLambdaHandler(tracer)).use(logMetrics(metrics));
`;
const DYNAMODB = `
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
const ddb = new DynamoDBClient({});
`;
const QUEUES = `
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { SNSClient, PublishCommand } from '@aws-sdk/client-sns';
const sqs = new SQSClient({});
const sns = new SNSClient({});
`;
/** Handlers without application code: what the mandated libraries alone weigh. */
const FLOORS: Record<string, string> = {
  'DynamoDB client only': `${DYNAMODB}export const handler = () => ddb.send(new GetItemCommand({ TableName: 't', Key: {} }));\n`,
  'Powertools Logger+Metrics+Tracer on middy only': `${POWERTOOLS}export const handler = wrap(async () => 1);\n`,
  'DynamoDB + Powertools (outbox-publisher, sweeper, evaluator)': `${DYNAMODB}${POWERTOOLS}export const handler = wrap(() => ddb.send(new GetItemCommand({ TableName: 't', Key: {} })));\n`,
  'DynamoDB + SQS + SNS + Powertools (device-api, operator-api)': `${DYNAMODB}${QUEUES}${POWERTOOLS}export const handler = wrap(() => Promise.all([ddb.send(new GetItemCommand({ TableName: 't', Key: {} })), sqs.send(new SendMessageCommand({ QueueUrl: 'q', MessageBody: '' })), sns.send(new PublishCommand({ TopicArn: 't', Message: '' }))]));\n`,
};

interface Bundle {
  bytes: number;
  /** Output bytes per npm package (or top-level source folder), largest first. */
  contributors: [string, number][];
}

async function bundle(entry: string, outfile: string): Promise<Bundle> {
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minify: true,
    legalComments: 'none',
    banner: { js: BANNER },
    mainFields: ['module', 'main'],
    ...(existsSync(LAMBDA_CREDENTIALS) ? { alias: { '@aws-sdk/credential-provider-node': LAMBDA_CREDENTIALS } } : {}),
    metafile: true,
    logLevel: 'silent',
    // The floor entries are written to a temp dir: resolve their packages from the project.
    nodePaths: [join(ROOT, 'node_modules')],
  });
  const byPackage = new Map<string, number>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? input.split('/').slice(0, 2).join('/');
      byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + bytesInOutput);
    }
  }
  return { bytes: statSync(outfile).size, contributors: [...byPackage].sort((a, b) => b[1] - a[1]) };
}

/** Milliseconds to import the bundle, measured inside a fresh node process (process start excluded). */
function importMs(file: string): number {
  const script = `const t=performance.now();await import(${JSON.stringify(pathToFileURL(file).href)});process.stdout.write(String(performance.now()-t));`;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    // No AWS or Powertools settings needed at import: handlers must not do I/O at init.
    env: { PATH: process.env.PATH ?? '', POWERTOOLS_METRICS_DISABLED: 'true' },
    timeout: 60_000,
  });
  if (res.status !== 0) throw new Error(`importing ${file} failed: ${(res.stderr || res.stdout).slice(0, 300)}`);
  return Number(res.stdout);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export async function run(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetmedic-bench-'));
  try {
    const emptyEntry = join(dir, 'empty-handler.ts');
    writeFileSync(emptyEntry, 'export const handler = async () => ({ statusCode: 200 });\n');
    const emptyOut = join(dir, 'empty.mjs');
    const emptyBytes = (await bundle(emptyEntry, emptyOut)).bytes;

    const floors: BenchRow[] = [];
    for (const [i, [name, source]] of Object.entries(FLOORS).entries()) {
      const entry = join(dir, `floor-${i}.ts`);
      writeFileSync(entry, source);
      const kb = (await bundle(entry, join(dir, `floor-${i}.mjs`))).bytes / 1024;
      floors.push({ suite: 'handlers', metric: `floor: ${name}`, value: `${kb.toFixed(1)} KB` });
    }

    const entries = readdirSync(HANDLERS)
      .filter((f) => f.endsWith('.ts'))
      .sort();
    const bundles: ({ name: string; out: string } & Bundle)[] = [];
    for (const f of entries) {
      const out = join(dir, f.replace(/\.ts$/, '.mjs'));
      bundles.push({ name: f.replace(/\.ts$/, ''), out, ...(await bundle(join(HANDLERS, f), out)) });
    }

    // Interleave the empty baseline with each handler so drift on a busy machine hits both alike.
    const samples = new Map<string, number[]>([
      ['(empty)', []],
      ...bundles.map((b) => [b.name, []] as [string, number[]]),
    ]);
    for (let i = 0; i < RUNS; i++) {
      for (const b of bundles) {
        samples.get('(empty)')!.push(importMs(emptyOut));
        samples.get(b.name)!.push(importMs(b.out));
      }
    }
    const base = median(samples.get('(empty)')!);
    const rows: BenchRow[] = [
      { suite: 'handlers', metric: 'bundle (empty handler)', value: `${(emptyBytes / 1024).toFixed(1)} KB` },
      ...floors,
    ];
    for (const b of bundles) {
      const kb = b.bytes / 1024;
      rows.push({ suite: 'handlers', metric: `bundle ${b.name}`, value: `${kb.toFixed(1)} KB` });
      const top = b.contributors
        .slice(0, 4)
        .map(([pkg, bytes]) => `${pkg} ${(bytes / 1024).toFixed(0)}`)
        .join(', ');
      rows.push({ suite: 'handlers', metric: `  largest in ${b.name} (KB)`, value: top });
    }
    for (const b of bundles) {
      const ms = median(samples.get(b.name)!);
      rows.push({
        suite: 'handlers',
        metric: `import ${b.name} (median of ${RUNS})`,
        value: `${ms.toFixed(1)} ms`,
        baseline: `empty ${base.toFixed(1)} ms`,
        ratio: `${(ms / base).toFixed(1)}x (+${(ms - base).toFixed(1)} ms)`,
      });
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
