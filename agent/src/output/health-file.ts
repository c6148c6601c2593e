/**
 * health.json: written atomically after every cycle; `fleetmedic-agent status` reads it.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ServiceReport } from '#contract/report.js';
import { atomicWriteFile } from '../state/atomic.js';
import type { SaveFailure } from '../state/state-dir.js';

export const HEALTH_FORMAT = 'fleetmedic-agent-health/1';

export interface CycleError {
  service?: string;
  step?: string;
  type: string;
  message: string;
}

export interface HealthFile {
  format: typeof HEALTH_FORMAT;
  agent: { version: string; pid: number; agentId: string; startedAt: string; deviceId?: string };
  /** ISO time the last cycle finished. */
  lastRun: string;
  /** The last cycle converged: no failed step and no service with an unresolved reconcile error. */
  success: boolean;
  cycle: number;
  durationMs: number;
  engine: { reachable: boolean; error?: string };
  /** State files whose last save failed (full or read-only disk): kept in memory and retried every cycle. */
  state: { saving: 'ok' | 'failing'; failures: SaveFailure[] };
  target: { version?: string; source?: string; error?: string };
  services: ServiceReport[];
  /** Failures of the last cycle and services with unresolved errors. */
  errors: CycleError[];
}

export async function writeHealthFile(path: string, h: HealthFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await atomicWriteFile(path, `${JSON.stringify(h, null, 2)}\n`);
}

export async function readHealthFile(path: string): Promise<HealthFile> {
  const h = JSON.parse(await readFile(path, 'utf8')) as HealthFile;
  if (h?.format !== HEALTH_FORMAT) throw new Error(`${path} is not an agent health file`);
  return h;
}
