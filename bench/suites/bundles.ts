/**
 * The deployed bundles, held to what a user feels: the cold import.
 *
 * Synthesizes the CDK app in-process WITH bundling (the same buildApp as `cdk synth`: same esbuild settings,
 * alias and banner) and reads each function's asset. For each function, a "floor" bundle is generated and built
 * the same way: a handler with no application code that imports the same AWS SDK clients the asset contains
 * (read from its esbuild metafile) plus Powertools Logger/Metrics/Tracer on middy. No amount of work on our own
 * code takes a function below its floor, so the budgets are set against it, measured in the same run:
 * - cold import (fresh Node process, interleaved handler/floor pairs, medians) <= 1.10x the floor's;
 * - our own code (asset bytes - floor bytes) <= 150 KB.
 * Two more figures, no budget: what `--enable-source-maps` would cost device-api's cold import (Node parses the
 * whole map at load; the functions read it only when an error is logged: functions/lib/source-mapped-stack.ts),
 * and whether loading the Secrets Manager client lazily (only the registry-credential routes need it) lowers the
 * floor's cold import.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import type { BenchRow } from '../run.js';
import { buildApp } from '../../cdk/lib/synth.js';
import { ESM_REQUIRE_SHIM, LAMBDA_CREDENTIALS, METAFILE_CONTEXT } from '../../cdk/lib/fleet-function.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const IMPORT_RATIO_BUDGET = 1.1;
const OWN_CODE_BUDGET_BYTES = 150 * 1024;
const RUNS = Number(process.env.BENCH_IMPORT_RUNS ?? 9);
const SOURCE_MAP_PAIRS = Number(process.env.BENCH_SOURCE_MAP_PAIRS ?? 15);
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

/** What a floor imports for each SDK package a bundle contains: the client and one command, constructed in the handler. */
const SDK_PACKAGES: Record<string, { imports: string; use: string }> = {
  '@aws-sdk/client-dynamodb': {
    imports: "import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';",
    use: "new DynamoDBClient({}).send(new GetItemCommand({ TableName: 't', Key: {} }))",
  },
  '@aws-sdk/lib-dynamodb': {
    imports: "import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';",
    use: "DynamoDBDocumentClient.from(new DynamoDBClient({})).send(new GetCommand({ TableName: 't', Key: {} }))",
  },
  '@aws-sdk/client-sqs': {
    imports: "import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';",
    use: "new SQSClient({}).send(new SendMessageCommand({ QueueUrl: 'q', MessageBody: '' }))",
  },
  '@aws-sdk/client-sns': {
    imports: "import { SNSClient, PublishCommand } from '@aws-sdk/client-sns';",
    use: "new SNSClient({}).send(new PublishCommand({ TopicArn: 't', Message: '' }))",
  },
  '@aws-sdk/client-secrets-manager': {
    imports: "import { SecretsManagerClient, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';",
    use: "new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: 's' }))",
  },
  '@aws-sdk/client-ssm': {
    imports: "import { SSMClient, GetParameterCommand } from '@aws-sdk/client-ssm';",
    use: "new SSMClient({}).send(new GetParameterCommand({ Name: 'p' }))",
  },
};
const SECRETS = '@aws-sdk/client-secrets-manager';

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
`;

/** A handler with no application code over these SDK packages; `lazy` ones are loaded by import() on first use. */
function floorSource(packages: string[], lazy: string[] = []): string {
  const eager = packages.filter((p) => !lazy.includes(p));
  const needsDynamoClient =
    packages.includes('@aws-sdk/lib-dynamodb') && !packages.includes('@aws-sdk/client-dynamodb');
  const imports = [
    ...eager.map((p) => SDK_PACKAGES[p]!.imports),
    ...(needsDynamoClient ? [SDK_PACKAGES['@aws-sdk/client-dynamodb']!.imports] : []),
  ];
  const uses = [
    ...eager.map((p) => SDK_PACKAGES[p]!.use),
    ...lazy.map((p) => {
      const { imports: line, use } = SDK_PACKAGES[p]!;
      const names = /import \{ ([^}]+) \}/.exec(line)![1];
      return `import('${p}').then(({ ${names} }) => ${use})`;
    }),
  ];
  return `${imports.join('\n')}\n${POWERTOOLS}
export const handler = middy(async () => Promise.all([${uses.join(', ')}]))
  .use(injectLambdaContext(logger)).use(captureLambdaHandler(tracer)).use(logMetrics(metrics));
`;
}

/** Builds like cdk/lib/fleet-function.ts (NodejsFunction's esbuild flags): ESM, node22, minified, source map beside. */
async function bundleLikeTheStack(entry: string, outfile: string): Promise<number> {
  await build({
    entryPoints: [entry],
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
    // The floor entries are written to a temp dir: resolve their packages from the project.
    nodePaths: [join(ROOT, 'node_modules')],
  });
  return statSync(outfile).size;
}

/** Milliseconds to import the bundle, measured inside a fresh Node process (process start excluded). */
function importMs(file: string, nodeOptions = ''): number {
  const script = `const t=performance.now();await import(${JSON.stringify(pathToFileURL(file).href)});process.stdout.write(String(performance.now()-t));`;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    // No AWS settings needed at import: handlers do no I/O at init.
    env: {
      PATH: process.env.PATH ?? '',
      POWERTOOLS_METRICS_DISABLED: 'true',
      ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
    },
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

/** Imports a and b alternately (a first on even rounds, b first on odd), so drift on a busy machine hits both alike. */
function interleaved(pairs: number, a: () => number, b: () => number): { a: number; b: number } {
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) {
      as.push(a());
      bs.push(b());
    } else {
      bs.push(b());
      as.push(a());
    }
  }
  return { a: median(as), b: median(bs) };
}

/** node_modules/<pkg>/... or a project folder, for grouping metafile inputs. */
function owner(path: string): string {
  const i = path.lastIndexOf('node_modules/');
  if (i < 0) return path.split('/').slice(0, 2).join('/');
  const parts = path.slice(i + 'node_modules/'.length).split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

interface Asset {
  name: string;
  file: string;
  bytes: number;
  packages: string[];
  top: string;
}

export async function run(): Promise<BenchRow[]> {
  const outdir = mkdtempSync(join(tmpdir(), 'fleetmedic-bundles-'));
  try {
    // Asset metadata (aws:asset:path) is what the CLI asks for too; it maps each function to its asset folder.
    const { app, stack } = buildApp({
      outdir,
      context: { 'aws:cdk:enable-asset-metadata': true, [METAFILE_CONTEXT]: true },
    });
    app.synth();
    const template = JSON.parse(readFileSync(join(outdir, `${stack.stackName}.template.json`), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: any; Metadata?: Record<string, string> }>;
    };
    const assets: Asset[] = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::Lambda::Function')
      .map((fn) => {
        const name: string = fn.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME;
        const dir = join(outdir, fn.Metadata!['aws:asset:path']!);
        const meta = JSON.parse(readFileSync(join(dir, 'index.meta.json'), 'utf8')) as {
          outputs: Record<string, { entryPoint?: string; inputs: Record<string, { bytesInOutput: number }> }>;
        };
        const output = Object.values(meta.outputs).find((o) => o.entryPoint)!;
        const byOwner = new Map<string, number>();
        for (const [path, { bytesInOutput }] of Object.entries(output.inputs))
          byOwner.set(owner(path), (byOwner.get(owner(path)) ?? 0) + bytesInOutput);
        const top = [...byOwner]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .map(([o, n]) => `${o} ${kb(n)}`)
          .join(', ');
        const packages = Object.keys(SDK_PACKAGES).filter((p) => (byOwner.get(p) ?? 0) > 0);
        return { name, file: join(dir, 'index.mjs'), bytes: statSync(join(dir, 'index.mjs')).size, packages, top };
      })
      .sort((a, b) => a.name.localeCompare(b.name));

    // One floor per distinct set of SDK packages.
    const floors = new Map<string, { file: string; bytes: number }>();
    const floorOf = async (packages: string[], lazy: string[] = []) => {
      const key = `${packages.join('+')}|lazy:${lazy.join('+')}`;
      let floor = floors.get(key);
      if (!floor) {
        const entry = join(outdir, `floor-${floors.size}.ts`);
        writeFileSync(entry, floorSource(packages, lazy));
        const file = join(outdir, `floor-${floors.size}.mjs`);
        floor = { file, bytes: await bundleLikeTheStack(entry, file) };
        floors.set(key, floor);
      }
      return floor;
    };

    const rows: BenchRow[] = [];
    for (const asset of assets) {
      const floor = await floorOf(asset.packages);
      const own = asset.bytes - floor.bytes;
      rows.push({
        suite: 'bundles',
        metric: `${asset.name} own code (asset ${kb(asset.bytes)}; top: ${asset.top})`,
        value: kb(own),
        baseline: `floor ${kb(floor.bytes)} (${asset.packages.map((p) => p.replace('@aws-sdk/', '')).join(', ')} + Powertools on middy)`,
        budget: '<= floor + 150 KB',
        ok: own <= OWN_CODE_BUDGET_BYTES,
      });
      const t = interleaved(
        RUNS,
        () => importMs(asset.file),
        () => importMs(floor.file),
      );
      rows.push({
        suite: 'bundles',
        metric: `${asset.name} cold import (median of ${RUNS} interleaved pairs)`,
        value: `${t.a.toFixed(1)} ms`,
        baseline: `floor ${t.b.toFixed(1)} ms`,
        ratio: `${(t.a / t.b).toFixed(2)}x`,
        budget: `<= ${IMPORT_RATIO_BUDGET.toFixed(2)}x floor`,
        ok: t.a <= t.b * IMPORT_RATIO_BUDGET,
      });
    }

    const deviceApi = assets.find((a) => a.name === 'device-api');
    if (deviceApi) {
      const t = interleaved(
        SOURCE_MAP_PAIRS,
        () => importMs(deviceApi.file, '--enable-source-maps'),
        () => importMs(deviceApi.file),
      );
      rows.push({
        suite: 'bundles',
        metric: `device-api cold import with --enable-source-maps (median of ${SOURCE_MAP_PAIRS} pairs; not deployed)`,
        value: `${t.a.toFixed(1)} ms`,
        baseline: `without ${t.b.toFixed(1)} ms`,
        ratio: `${t.a >= t.b ? '+' : ''}${(((t.a - t.b) / t.b) * 100).toFixed(0)} %`,
      });
    }

    // Lazy loading: a client only some routes need, imported on first use instead of at cold start.
    const withSecrets = assets.find((a) => a.packages.includes(SECRETS));
    if (withSecrets) {
      const eager = await floorOf(withSecrets.packages);
      const lazy = await floorOf(withSecrets.packages, [SECRETS]);
      const t = interleaved(
        RUNS,
        () => importMs(lazy.file),
        () => importMs(eager.file),
      );
      rows.push({
        suite: 'bundles',
        metric: `floor of ${withSecrets.name} with Secrets Manager loaded lazily (median of ${RUNS} pairs)`,
        value: `${t.a.toFixed(1)} ms`,
        baseline: `eager ${t.b.toFixed(1)} ms`,
        ratio: `${(t.a / t.b).toFixed(2)}x`,
      });
    }
    return rows;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
