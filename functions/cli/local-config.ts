/**
 * `.fleetmedic/local.json`: written by `npm start`, read by the CLI so `fleetmedic devices` just works locally.
 * Holds the local API URL and the local operator token (a development credential for the emulator only;
 * the file is created with mode 0600).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface LocalFleetConfig {
  apiUrl: string;
  operatorToken: string;
  prefix: string;
  endpoint: string;
  /** Process id of the running `npm start`, absent once it stopped. */
  pid?: number;
  /** Process id of the moto_server it started (so a crashed run's emulator can be cleaned up). */
  emulatorPid?: number;
  startedAt?: string;
  stoppedAt?: string;
}

export const STATE_DIR_NAME = '.fleetmedic';
const REPO_ROOT = resolve(import.meta.dirname, '..', '..');

/** FLEETMEDIC_LOCAL_DIR, else the nearest `.fleetmedic/` above the working directory, else the repository's. */
export function stateDir(env: Record<string, string | undefined> = process.env): string {
  if (env.FLEETMEDIC_LOCAL_DIR) return resolve(env.FLEETMEDIC_LOCAL_DIR);
  let dir = process.cwd();
  for (;;) {
    if (existsSync(join(dir, STATE_DIR_NAME, 'local.json'))) return join(dir, STATE_DIR_NAME);
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return join(REPO_ROOT, STATE_DIR_NAME);
}

export const localConfigPath = (dir = stateDir()) => join(dir, 'local.json');

export function readLocalConfig(dir = stateDir()): LocalFleetConfig | undefined {
  const file = localConfigPath(dir);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LocalFleetConfig;
  } catch {
    return undefined;
  }
}

export function writeLocalConfig(cfg: LocalFleetConfig, dir = stateDir()): void {
  mkdirSync(dir, { recursive: true });
  const file = localConfigPath(dir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

export function processAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
