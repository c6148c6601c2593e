/**
 * The reconcile loop's own state files in the state directory: the last applied target (`target`), the backoff
 * (`backoff`) and the restart counts (`services`). Loaded once at start; saved after each cycle, each only
 * when it changed. A "needs saving" mark is cleared only once its save succeeded: a save that failed (a full
 * disk) is tried again next cycle, and the state dir reports it (health.json, metrics) until then. One failing
 * store does not keep the others from being saved.
 */
import * as z from 'zod/mini';
import { TargetState } from '#contract/target-state.js';
import type { RetryManager } from '../backoff/manager.js';
import { PersistedBackoff, restoreBackoff, snapshotBackoff } from '../backoff/persist.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { StatusBook } from '../status/book.js';
import type { TargetSnapshot } from '../target/provider.js';
import type { JsonStore } from './json-store.js';
import type { StateDir } from './state-dir.js';

const PersistedTarget = z.nullable(
  z.object({ version: z.string(), source: z.string(), target: TargetState, adoptedAt: z.string() }),
);
type PersistedTarget = z.infer<typeof PersistedTarget>;
const ServiceStats = z.object({ restartCounts: z.record(z.string(), z.int().check(z.minimum(0))) });
type ServiceStats = z.infer<typeof ServiceStats>;

export interface AgentStateOptions {
  state: StateDir;
  log: Logger;
  clock: Clock;
  backoff: RetryManager;
  status: StatusBook;
}

export class AgentState {
  private readonly targetStore: JsonStore<PersistedTarget>;
  private readonly backoffStore: JsonStore<PersistedBackoff>;
  private readonly statsStore: JsonStore<ServiceStats>;
  /** The last adopted target, until it is saved. */
  private unsavedTarget: TargetSnapshot | undefined;
  private savedBackoffVersion = -1;
  private savedCountsVersion = 0;

  constructor(private readonly opts: AgentStateOptions) {
    this.targetStore = opts.state.store('target', PersistedTarget, () => null);
    this.backoffStore = opts.state.store('backoff', PersistedBackoff, () => ({ savedAtWall: 0, entries: [] }));
    this.statsStore = opts.state.store('services', ServiceStats, () => ({ restartCounts: {} }));
  }

  /** Loads the three files (a damaged one is recovered and logged), restores backoff and restart counts. */
  async load(): Promise<TargetSnapshot | null> {
    for (const [store, what] of [
      [this.targetStore, 'last applied target'],
      [this.backoffStore, 'backoff state'],
      [this.statsStore, 'service stats'],
    ] as const) {
      const r = await (store as JsonStore<unknown>).load();
      if (r.problems.length)
        this.opts.log.warn(
          { problems: r.problems, recoveredFrom: r.source },
          `state file damaged: ${what} recovered from ${r.source}`,
        );
    }
    restoreBackoff(this.opts.backoff, this.backoffStore.value, this.opts.clock);
    this.savedBackoffVersion = this.opts.backoff.version;
    this.opts.status.loadRestartCounts(this.statsStore.value.restartCounts);
    this.savedCountsVersion = this.opts.status.countsVersion;
    const t = this.targetStore.value;
    return t ? { version: t.version, target: t.target, source: t.source } : null;
  }

  /** A new target was adopted: saved with the next `save()`. */
  targetAdopted(snapshot: TargetSnapshot): void {
    this.unsavedTarget = snapshot;
  }

  /**
   * Saves what changed. `shuttingDown`: the backoff is saved even unchanged, so its remaining waits are
   * anchored to the moment the agent stopped.
   */
  async save(o: { shuttingDown?: boolean } = {}): Promise<void> {
    const failures: string[] = [];
    const attempt = async (what: string, save: () => Promise<void>, saved: () => void) => {
      try {
        await save();
        saved();
      } catch (err) {
        failures.push(`${what}: ${(err as Error).message}`);
      }
    };
    const d = this.unsavedTarget;
    if (d) {
      await attempt(
        'target',
        () =>
          this.targetStore.save({
            version: d.version,
            source: d.source,
            target: d.target,
            adoptedAt: new Date(this.opts.clock.wallNow()).toISOString(),
          }),
        () => {
          if (this.unsavedTarget === d) this.unsavedTarget = undefined;
        },
      );
    }
    const { backoff, status } = this.opts;
    if (backoff.version !== this.savedBackoffVersion || o.shuttingDown) {
      const v = backoff.version;
      await attempt(
        'backoff',
        () => this.backoffStore.save(snapshotBackoff(backoff, this.opts.clock)),
        () => (this.savedBackoffVersion = v),
      );
    }
    if (status.countsVersion !== this.savedCountsVersion) {
      const v = status.countsVersion;
      await attempt(
        'services',
        () => this.statsStore.save({ restartCounts: status.restartCounts() }),
        () => (this.savedCountsVersion = v),
      );
    }
    if (failures.length) throw new Error(`state not saved (retried next cycle): ${failures.join('; ')}`);
  }
}
