/**
 * `.fleetmedic/local.json`: written by `npm start`, read by the CLI so `fleetmedic devices` just works locally.
 * Holds the local API URL and the local operator token (a development credential for the emulator only;
 * the file is created with mode 0600).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * Written into the default state directory by `npm start -- --state-dir <dir>`: the running fleet keeps its
 * local.json elsewhere, and this says where, so the CLI finds it without FLEETMEDIC_LOCAL_DIR.
 */
export const POINTER_FILE = 'running-elsewhere.json';
export interface StateDirPointer {
  stateDir: string;
  pid: number;
}

/**
 * FLEETMEDIC_LOCAL_DIR, else the nearest `.fleetmedic/` above the working directory (else the repository's);
 * when no fleet runs from that one but it points at a running fleet started with --state-dir, that fleet's.
 */
export function stateDir(env: Record<string, string | undefined> = process.env): string {
  if (env.FLEETMEDIC_LOCAL_DIR) return resolve(env.FLEETMEDIC_LOCAL_DIR);
  const dir = defaultStateDir();
  const own = readLocalConfig(dir);
  if (own?.pid && processAlive(own.pid)) return dir;
  const pointer = readStateDirPointer(dir);
  if (pointer && processAlive(pointer.pid) && existsSync(localConfigPath(pointer.stateDir))) return pointer.stateDir;
  return dir;
}

/** The nearest `.fleetmedic/` above the working directory that holds a fleet's files, else the repository's. */
export function defaultStateDir(): string {
  let dir = process.cwd();
  for (;;) {
    const candidate = join(dir, STATE_DIR_NAME);
    if (existsSync(join(candidate, 'local.json')) || existsSync(join(candidate, POINTER_FILE))) return candidate;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return join(REPO_ROOT, STATE_DIR_NAME);
}

export function readStateDirPointer(dir: string): StateDirPointer | undefined {
  try {
    const p = JSON.parse(readFileSync(join(dir, POINTER_FILE), 'utf8')) as StateDirPointer;
    return typeof p.stateDir === 'string' && typeof p.pid === 'number' ? p : undefined;
  } catch {
    return undefined;
  }
}

export function writeStateDirPointer(dir: string, pointer: StateDirPointer): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, POINTER_FILE), `${JSON.stringify(pointer, null, 2)}\n`);
}

/** Remove the pointer if it is still ours (another fleet may have started since). */
export function removeStateDirPointer(dir: string, pid: number): void {
  if (readStateDirPointer(dir)?.pid === pid) rmSync(join(dir, POINTER_FILE), { force: true });
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
