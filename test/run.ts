/**
 * `npm test`: one emulator for the whole run, then node's test runner over every test file.
 *   npm test                 every test (unit, integration, agent-on-engine, end-to-end)
 *   npm test -- --unit       only test/unit (no emulator, no engine)
 *   npm test -- path/to/x.test.ts ...   just those files
 *
 * Each file runs in its own `node --test` process (as node's runner would do anyway), its output printed whole when
 * it ends. This runner, not node's, chooses the order, because two things decide how long the suite takes on a
 * 2-core machine:
 *  - the longest files start first (SECONDS below), so the run does not end with one long file started last while
 *    the other slot idles;
 *  - files that spend most of their time waiting out wall-clock periods (WAITING: an outage, a job timeout, a
 *    backoff, with agents and the local fleet idle in between) may run in TEST_WAIT_SLOTS extra slots (default 2)
 *    beside the TEST_CONCURRENCY (default 3) slots every file shares, instead of holding a core they hardly use.
 *    Most files wait on an engine, an emulator or a clock: with 2 + 1 slots a full run kept less than one of the
 *    2 cores busy; with 3 + 2 it keeps 1.4 busy and takes ~600 s on a quiet machine. A second emulator changed
 *    nothing (moto is not the bottleneck); the CPU the suite needs (~850 s) puts its floor near 7 minutes here.
 *  - the files that synthesize the CDK stack (they import test/unit/cdk/support/stack.ts) run together in one
 *    process: importing aws-cdk-lib and the first synthesis of a process cost ~12 s of CPU, a later synthesis ~1.5 s,
 *    and the default stack is shared through that module's cache. They set no environment and no hooks, so running
 *    them side by side changes nothing but the CPU spent.
 * The figures are wall-clock seconds measured for each file on its own; files not listed are assumed short by their
 * folder. Refresh them from the table this runner prints at the end of a full run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ensureEmulator, type Emulator } from './support/moto.js';

const root = join(import.meta.dirname, '..');
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const explicit = args.filter((a) => !a.startsWith('--'));

/**
 * Wall-clock seconds of the longest files on a quiet 2-core machine, measured in a full run or estimated from a
 * run of the file alone on a loaded one. Only their order matters.
 */
const SECONDS: Record<string, number> = {
  'test/e2e/faults.test.ts': 130,
  'test/e2e/job-timeout.test.ts': 128,
  'test/e2e/recovery.test.ts': 125,
  'test/e2e/rollout.test.ts': 125,
  'test/integration/alerting/offline-grouping.test.ts': 90,
  'test/agent/retry-now.test.ts': 88,
  'test/e2e/jobs.test.ts': 85,
  'test/agent/cli.test.ts': 70,
  'test/agent/recovery.test.ts': 65,
  'test/integration/local/fleet-sim.test.ts': 57,
  'test/integration/alerting/cause-grouping.test.ts': 50,
  'test/integration/cdk/synth.test.ts': 46,
  'test/unit/cdk/stack.test.ts': 30,
  'test/unit/cdk/edge-protection.test.ts': 20,
  'test/unit/cdk/infra-spec.test.ts': 20,
  'test/unit/cdk/handler-needs.test.ts': 18,
  'test/unit/cdk/device-push.test.ts': 13,
  'test/unit/cdk/workflows.test.ts': 10,
};
/** Assumed seconds of a file not in SECONDS, by folder. */
const DEFAULT_SECONDS: [string, number][] = [
  ['test/e2e/', 45],
  ['test/agent/', 20],
  ['test/integration/', 10],
  ['', 2],
];
/** Files that mostly wait on wall-clock periods (see above); every end-to-end file waits on its agent and fleet. */
const WAITING = (file: string) => file.startsWith('test/e2e/') || file === 'test/agent/retry-now.test.ts';

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

const files = (
  explicit.length ? explicit.map((f) => join(root, f)) : findTests(join(root, 'test', unitOnly ? 'unit' : ''))
).map((f) => relative(root, f));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const fileSeconds = (f: string) => SECONDS[f] ?? DEFAULT_SECONDS.find(([dir]) => f.startsWith(dir))![1];

/** What one test process runs: one file, or the files that share the CDK synthesis (see above). */
interface Job {
  name: string;
  files: string[];
}
const synthesizesStack = (f: string) =>
  f.startsWith('test/unit/cdk/') && readFileSync(join(root, f), 'utf8').includes("from './support/stack.js'");
const stackFiles = files.filter(synthesizesStack);
const jobs: Job[] = [
  ...files.filter((f) => !stackFiles.includes(f) || stackFiles.length === 1).map((f) => ({ name: f, files: [f] })),
  ...(stackFiles.length > 1 ? [{ name: `${stackFiles.length} CDK stack files (one process)`, files: stackFiles }] : []),
];
const expected = (j: Job) => j.files.reduce((n, f) => n + fileSeconds(f), 0);
const waiting = (j: Job) => j.files.every(WAITING);
/** Longest first; ties keep the alphabetical order. */
const queue = [...jobs].sort((a, b) => expected(b) - expected(a));

let emulator: Emulator | undefined;
if (!unitOnly) emulator = await ensureEmulator();

const sharedSlots = Math.max(1, Number(process.env.TEST_CONCURRENCY ?? 3));
const waitSlots = Math.max(0, Number(process.env.TEST_WAIT_SLOTS ?? 2));
const reporter = process.stdout.isTTY ? ['--test-reporter=spec'] : [];

interface Done {
  name: string;
  /** How many test files the process ran. */
  files: number;
  seconds: number;
  ok: boolean;
  counts: Record<string, number>;
}
const done: Done[] = [];
const running = new Map<ChildProcess, { name: string; extra: boolean }>();
const started = Date.now();
let stopping = false;

/**
 * One file: node's test runner on it. Several: imported one after the other by one process, whose tests node:test
 * runs as they register (without --test there is no per-test timeout; the CDK files have no waits).
 */
function testCommand(job: Job): string[] {
  if (job.files.length === 1) return ['--import', 'tsx', '--test', '--test-timeout=600000', ...reporter, job.files[0]!];
  const imports = job.files.map((f) => `await import(${JSON.stringify(`./${f}`)});`).join(' ');
  return [
    '--import',
    'tsx',
    ...(reporter.length ? reporter : ['--test-reporter=tap']),
    '--input-type=module',
    '-e',
    imports,
  ];
}

function runJob(job: Job, extra: boolean): void {
  const t0 = Date.now();
  const child = spawn(process.execPath, testCommand(job), {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: process.env,
  });
  const { name } = job;
  running.set(child, { name, extra });
  const out: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => out.push(d));
  child.on('close', (code, signal) => {
    running.delete(child);
    const text = Buffer.concat(out).toString();
    const counts: Record<string, number> = {};
    for (const m of text.matchAll(/^[#ℹ] (tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm))
      counts[m[1]!] = Number(m[2]);
    const seconds = (Date.now() - t0) / 1000;
    const ok = code === 0 && !signal;
    done.push({ name, files: job.files.length, seconds, ok, counts });
    process.stdout.write(
      `\n# ── ${name} (${seconds.toFixed(1)} s, ${ok ? 'ok' : `FAILED: exit ${code ?? signal}`}) ──\n`,
    );
    process.stdout.write(text);
    schedule();
  });
}

/** Fill the free slots: a shared slot takes the longest file left, an extra slot the longest waiting file left. */
function schedule(): void {
  const inUse = (extra: boolean) => [...running.values()].filter((r) => r.extra === extra).length;
  while (!stopping && queue.length && inUse(false) < sharedSlots) runJob(queue.shift()!, false);
  while (!stopping && inUse(true) < waitSlots) {
    const i = queue.findIndex(waiting);
    if (i < 0) break;
    runJob(queue.splice(i, 1)[0]!, true);
  }
  if (running.size === 0) void finish();
}

let finished = false;
async function finish(): Promise<void> {
  if (finished) return;
  finished = true;
  const total = (key: string) => done.reduce((n, d) => n + (d.counts[key] ?? 0), 0);
  const failed = done.filter((d) => !d.ok);
  const lines = [
    '',
    '# ── summary ──',
    ...['tests', 'pass', 'fail', 'cancelled', 'skipped', 'todo'].map((k) => `# ${k} ${total(k)}`),
    `# files ${done.reduce((n, d) => n + d.files, 0)} in ${done.length} processes, failed ${failed.length}${failed.map((d) => `\n#   FAILED ${d.name}`).join('')}`,
    `# wall clock ${((Date.now() - started) / 1000).toFixed(1)} s (${sharedSlots} shared + ${waitSlots} waiting slots)`,
    '# longest files (s):',
    ...[...done]
      .sort((a, b) => b.seconds - a.seconds)
      .slice(0, 15)
      .map((d) => `#   ${d.seconds.toFixed(1).padStart(6)}  ${d.name}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  await emulator?.stop();
  process.exit(failed.length || done.length < jobs.length ? 1 : 0);
}

const stop = (signal: NodeJS.Signals) => {
  stopping = true;
  queue.length = 0;
  for (const child of running.keys()) child.kill(signal);
  if (running.size === 0) void finish();
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
schedule();
