/**
 * The target the reconcile loop converges to, and where it comes from: the provider (target file, cloud) read
 * each cycle, or a module setting one (a job, a rollback). Adopting a target forgets the backoff of every service
 * whose spec changed (a fixed target heals at once) and every service that left it. When the provider fails the
 * last applied target is kept, and the failure is reported until the provider answers again.
 */
import type { RetryManager } from '../backoff/manager.js';
import { ConfigError } from '../config.js';
import type { Logger } from '../log.js';
import { fullSpecHash } from '../planner/spec-hash.js';
import type { AgentState } from '../state/agent-state.js';
import type { StatusBook } from '../status/book.js';
import type { TargetProvider, TargetSnapshot } from './provider.js';

export interface DesiredTargetOptions {
  provider?: TargetProvider;
  backoff: RetryManager;
  status: StatusBook;
  files: AgentState;
  log: Logger;
}

export class DesiredTarget {
  /** The target being converged to (null: none yet). */
  current: TargetSnapshot | null = null;
  /** Why the provider could not be read last time, until it answers again. */
  error: string | undefined;
  /** The source answered with invalid content (a broken target file): the cycle is not a success. */
  invalid = false;
  private lastProviderVersion: string | undefined;

  constructor(private readonly opts: DesiredTargetOptions) {}

  /** Adopts a target (no-op when it is the one already adopted); saved with the next state save. */
  adopt(next: TargetSnapshot): void {
    const prev = this.current;
    if (prev && prev.version === next.version && sameTarget(prev, next)) return;
    const names = new Set(Object.keys(next.target.services));
    for (const [name, spec] of Object.entries(next.target.services)) {
      const before = prev?.target.services[name];
      if (!before || fullSpecHash(before) !== fullSpecHash(spec)) {
        // A fixed target heals at once: its backoff belongs to the old spec.
        if (this.opts.backoff.resetService(name))
          this.opts.log.info({ service: name }, 'target changed: backoff reset');
      }
    }
    this.opts.backoff.retainServices(names);
    this.opts.status.retain(names);
    this.current = next;
    this.opts.files.targetAdopted(next);
    this.opts.log.info({ version: next.version, source: next.source, services: names.size }, 'target adopted');
  }

  /** Reads the provider and adopts what it serves when its version changed. */
  async refresh(): Promise<void> {
    if (!this.opts.provider) return;
    try {
      const snap = await this.opts.provider.fetch();
      this.error = undefined;
      this.invalid = false;
      if (snap && snap.version !== this.lastProviderVersion) {
        this.lastProviderVersion = snap.version;
        this.adopt(snap);
      }
    } catch (err) {
      const msg = (err as Error).message;
      this.invalid = err instanceof ConfigError;
      if (msg !== this.error)
        this.opts.log.warn(
          { err: msg, keeping: this.current?.version ?? null },
          'target source unavailable; keeping the last applied target',
        );
      this.error = msg;
    }
  }
}

function sameTarget(a: TargetSnapshot, b: TargetSnapshot): boolean {
  return JSON.stringify(a.target) === JSON.stringify(b.target);
}
