/**
 * The deployed bundles themselves: synthesizes the CDK app in-process WITH bundling (the same buildApp as
 * `cdk synth`, so the same esbuild settings, alias and banner), then reads each function's asset from the
 * cloud assembly: index.mjs size against the 250 KB minified budget (ratio = size / budget), and the three
 * largest contributors from the asset's esbuild metafile, which is where the budget is won or lost.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchRow } from '../run.js';
import { buildApp } from '../../cdk/lib/synth.js';
import { METAFILE_CONTEXT } from '../../cdk/lib/fleet-function.js';

const BUDGET_BYTES = 250 * 1024;
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

/** node_modules/<pkg>/... or a project folder, for grouping metafile inputs. */
function owner(path: string): string {
  const i = path.lastIndexOf('node_modules/');
  if (i < 0) return path.split('/').slice(0, 2).join('/');
  const parts = path.slice(i + 'node_modules/'.length).split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

export async function run(): Promise<BenchRow[]> {
  const outdir = mkdtempSync(join(tmpdir(), 'fleetmedic-bundles-'));
  try {
    // Asset metadata (aws:asset:path) is what the CLI asks for too; it maps each function to its asset folder.
    const { app, stack } = buildApp({ outdir, context: { 'aws:cdk:enable-asset-metadata': true, [METAFILE_CONTEXT]: true } });
    app.synth();
    const template = JSON.parse(readFileSync(join(outdir, `${stack.stackName}.template.json`), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: any; Metadata?: Record<string, string> }>;
    };
    const rows: BenchRow[] = [];
    const functions = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::Lambda::Function')
      .sort((a, b) => a.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME.localeCompare(b.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME));
    for (const fn of functions) {
      const name: string = fn.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME;
      const dir = join(outdir, fn.Metadata!['aws:asset:path']!);
      const bytes = statSync(join(dir, 'index.mjs')).size;
      const meta = JSON.parse(readFileSync(join(dir, 'index.meta.json'), 'utf8')) as {
        outputs: Record<string, { entryPoint?: string; inputs: Record<string, { bytesInOutput: number }> }>;
      };
      const output = Object.values(meta.outputs).find((o) => o.entryPoint)!;
      const byOwner = new Map<string, number>();
      for (const [path, { bytesInOutput }] of Object.entries(output.inputs)) byOwner.set(owner(path), (byOwner.get(owner(path)) ?? 0) + bytesInOutput);
      const top = [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([o, n]) => `${o} ${kb(n)}`).join(', ');
      rows.push({
        suite: 'bundles',
        metric: `${name} asset index.mjs (top: ${top})`,
        value: kb(bytes),
        baseline: kb(BUDGET_BYTES),
        ratio: `${(bytes / BUDGET_BYTES).toFixed(2)}x budget`,
        budget: '<= 250 KB',
        ok: bytes <= BUDGET_BYTES,
      });
    }
    return rows;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
