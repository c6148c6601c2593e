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

/** A store whose last save failed (a full or read-only filesystem): reported until a save succeeds. */
export interface SaveFailure {
  store: string;
  /** ISO time of the first failure in a row. */
  since: string;
  message: string;
  failedAttempts: number;
}

export class StateDir {
  readonly markers: MarkerStore;
  readonly counters: Counters;
  private readonly stores = new Map<string, JsonStore<unknown>>();
  private readonly failing = new Map<string, SaveFailure>();
  /** Saves that failed since the start (the metric's counter). */
  saveFailuresTotal = 0;
  /** Told when a store starts failing (err) or saves again after failing (null): the agent logs both. */
  onSaveStateChange: ((store: string, err: Error | null, failure: SaveFailure) => void) | undefined;

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
    const store = new JsonStore<T>({
      dir: this.path,
      name,
      schema,
      fallback,
      onSaveResult: (n, err) => this.saveResult(n, err),
    });
    this.stores.set(name, store as JsonStore<unknown>);
    return store;
  }

  /** Stores whose last save failed, oldest failure first. */
  saveFailures(): SaveFailure[] {
    return [...this.failing.values()];
  }

  private saveResult(store: string, err: Error | null): void {
    const prev = this.failing.get(store);
    if (!err) {
      if (prev) {
        this.failing.delete(store);
        this.onSaveStateChange?.(store, null, prev);
      }
      return;
    }
    this.saveFailuresTotal++;
    const message = err.message.slice(0, 300);
    if (prev) {
      prev.failedAttempts++;
      prev.message = message;
      return;
    }
    const failure: SaveFailure = { store, since: new Date().toISOString(), message, failedAttempts: 1 };
    this.failing.set(store, failure);
    this.onSaveStateChange?.(store, err, failure);
  }

  /** Waits for writes in flight, then releases the lock. */
  async close(): Promise<void> {
    await settleWrites();
    await this.lock?.release();
  }
}
