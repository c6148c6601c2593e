/**
 * `npm run bench -- fleet-sim [--devices N] [--minutes M]`: the fleet simulator (bench/fleet-sim/simulator.ts).
 * The defaults are the budget run: 1,000 devices on the sync protocol at default settings for 10 measured minutes
 * (after a warm-up of about a minute; registering the devices takes a minute or two more), beside 10 devices on
 * the previous protocol as the same-run baseline. Shorter runs (e.g. --devices 200 --minutes 2) print the same
 * rows; the budgets that need the full run are then not judged.
 */
import type { BenchRow } from '../run.js';
import { applyAwsTestEnv, startMoto } from '../../local/moto.js';
import { BUDGET_DEVICES, BUDGET_MINUTES, fleetSimRows } from '../fleet-sim/rows.js';

function flag(name: string, fallback: number): number {
  const args = process.argv.slice(2);
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return fallback;
  const raw = args[i]!.includes('=') ? args[i]!.split('=')[1] : args[i + 1];
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} ${raw}: expected a positive number`);
  return v;
}

export async function run(): Promise<BenchRow[]> {
  const devices = Math.round(flag('devices', BUDGET_DEVICES));
  const minutes = flag('minutes', BUDGET_MINUTES);
  const savedEnv = { ...process.env };
  // Thousands of handler log lines and EMF blobs would drown the table and load the machine: set before the
  // handlers' Powertools instances are created (the simulator is imported below, not at the top).
  process.env.POWERTOOLS_LOG_LEVEL = 'WARN';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const { simulateFleet } = await import('../fleet-sim/simulator.js');
  const moto = await startMoto({ serialised: true, keepAlive: true });
  applyAwsTestEnv(moto.endpoint);
  try {
    const result = await simulateFleet({
      devices,
      measureSeconds: Math.round(minutes * 60),
      log: (l) => process.stderr.write(`[bench fleet-sim] ${l}\n`),
    });
    return fleetSimRows(result);
  } finally {
    await moto.stop();
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    Object.assign(process.env, savedEnv);
  }
}
