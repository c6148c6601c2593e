/**
 * `npm run bench`: measured budgets, printed as one table. Each row reports a figure and, where a budget
 * exists, the ratio against a baseline measured in the same run (these machines are noisy).
 * Suites live in bench/suites/*.ts and export `run(): Promise<BenchRow[]>`.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface BenchRow {
  suite: string;
  metric: string;
  value: string;
  baseline?: string;
  ratio?: string;
  budget?: string;
  ok?: boolean;
}

// Suite names, not flags nor a flag's value (`--devices 200`: suites read their own flags from process.argv).
const args = process.argv.slice(2);
const only = args.filter(
  (a, i) =>
    !a.startsWith('--') &&
    !(i > 0 && args[i - 1]!.startsWith('--') && !args[i - 1]!.includes('=') && /^[\d.]+$/.test(a)),
);
const dir = join(import.meta.dirname, 'suites');
const suites = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && (only.length === 0 || only.some((o) => f.includes(o))))
  .sort();
const rows: BenchRow[] = [];
let failed = false;
for (const file of suites) {
  const mod = (await import(pathToFileURL(join(dir, file)).href)) as { run: () => Promise<BenchRow[]> };
  try {
    rows.push(...(await mod.run()));
  } catch (err) {
    failed = true;
    rows.push({
      suite: file.replace(/\.ts$/, ''),
      metric: 'ERROR',
      value: (err as Error).message.slice(0, 120),
      ok: false,
    });
  }
}

const header = ['suite', 'metric', 'value', 'baseline', 'ratio', 'budget', 'ok'] as const;
const cells = rows.map((r) => [
  r.suite,
  r.metric,
  r.value,
  r.baseline ?? '',
  r.ratio ?? '',
  r.budget ?? '',
  r.ok === undefined ? '' : r.ok ? 'yes' : 'NO',
]);
const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
const line = (c: readonly string[]) => `| ${c.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const c of cells) console.log(line(c));
if (failed || rows.some((r) => r.ok === false)) process.exitCode = 1;
