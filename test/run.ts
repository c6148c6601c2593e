/**
 * `npm test`: one emulator for the whole run, then node's test runner over every test file.
 *   npm test                 every test (unit, integration, agent-on-engine, end-to-end)
 *   npm test -- --unit       only test/unit (no emulator, no engine)
 *   npm test -- path/to/x.test.ts ...   just those files
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ensureEmulator, type Emulator } from './support/moto.js';

const root = join(import.meta.dirname, '..');
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const explicit = args.filter((a) => !a.startsWith('--'));

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules' || name === 'support' || name === 'fixtures') continue;
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

const files = explicit.length ? explicit : findTests(join(root, 'test', unitOnly ? 'unit' : ''));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

let emulator: Emulator | undefined;
if (!unitOnly) emulator = await ensureEmulator();

const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const child = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-timeout=600000',
    ...files.map((f) => relative(root, f)),
  ],
  { cwd: root, stdio: 'inherit', env: process.env },
);
const stop = async (code: number) => {
  await emulator?.stop();
  process.exit(code);
};
process.on('SIGINT', () => child.kill('SIGINT'));
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => void stop(code ?? (signal ? 1 : 0)));
