/**
 * The agent's state directory (default /var/lib/fleetmedic; --state-dir / FLEETMEDIC_STATE_DIR).
 *
 *   agent.lock            one agent per directory (lock.ts)
 *   <name>.json           JsonStore documents (+ <name>.prev.json previous-good copies):
 *                           backoff, target (last applied), services (restart counts), counters, and any store
 *                           another module opens with `stateDir.store(...)` (the cloud link's buffer, jobs...)
 *   manual-stop/          manual-stop markers (markers.ts)
 *   health.json           written after every cycle (output/)
 *   metrics/fleetmedic_agent.prom   Prometheus textfile (unless --metrics-file points elsewhere)
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type * as z from 'zod/mini';
import { removeStaleTemps, settleWrites } from './atomic.js';
import { Counters } from './counters.js';
import { JsonStore } from './json-store.js';
import { acquireLock, type StateLock } from './lock.js';
import { MarkerStore } from './markers.js';

export const DEFAULT_STATE_DIR = '/var/lib/fleetmedic';

export class StateDir {
  readonly markers: MarkerStore;
  readonly counters: Counters;
  private readonly stores = new Map<string, JsonStore<unknown>>();

  private constructor(
    readonly path: string,
    readonly lock: StateLock | undefined,
  ) {
    this.markers = new MarkerStore(path);
    this.counters = new Counters(path);
  }

  /**
   * Creates the directory (0700) and, unless `lock: false` (read-only uses: `status`, `--dry-run`), takes the
   * lock: throws LockHeldError when a live agent holds it.
   */
  static async open(path: string, opts: { lock: boolean }): Promise<StateDir> {
    await mkdir(path, { recursive: true, mode: 0o700 });
    const lock = opts.lock ? await acquireLock(join(path, 'agent.lock')) : undefined;
    if (lock) await removeStaleTemps(path, 0); // we hold the lock: no other writer exists
    const dir = new StateDir(path, lock);
    await dir.counters.load();
    return dir;
  }

  file(name: string): string {
    return join(this.path, name);
  }

  /** A zod-validated JSON document in this directory (one instance per name). Call `load()` before use. */
  store<T>(name: string, schema: z.ZodMiniType<T>, fallback: () => T): JsonStore<T> {
    const existing = this.stores.get(name);
    if (existing) return existing as JsonStore<T>;
    const store = new JsonStore<T>({ dir: this.path, name, schema, fallback });
    this.stores.set(name, store as JsonStore<unknown>);
    return store;
  }

  /** Waits for writes in flight, then releases the lock. */
  async close(): Promise<void> {
    await settleWrites();
    await this.lock?.release();
  }
}
