/**
 * Manual-stop markers: `fleetmedic-agent stop <service>` writes `<stateDir>/manual-stop/<service>.stopped`;
 * while it exists the agent neither reconciles nor recovers that service. One file per service (not a store
 * inside the locked state) so the CLI can set and clear markers while the agent runs; the state directory is
 * persistent, so markers survive reboots (unlike /var/run, which is emptied at boot).
 */
import { access, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { ServiceName } from '#contract/common.js';
import { atomicWriteFile, fsyncDir } from './atomic.js';

export const ManualStopMarker = z.object({
  service: z.string(),
  reason: z.optional(z.string()),
  createdAt: z.string(),
  by: z.optional(z.string()),
});
export type ManualStopMarker = z.infer<typeof ManualStopMarker>;

const SUFFIX = '.stopped';

export class MarkerStore {
  readonly dir: string;
  constructor(stateDir: string) {
    this.dir = join(stateDir, 'manual-stop');
  }

  private file(service: string): string {
    const name = ServiceName.parse(service); // also keeps path separators out
    return join(this.dir, `${name}${SUFFIX}`);
  }

  async set(service: string, opts: { reason?: string; by?: string; now?: Date } = {}): Promise<ManualStopMarker> {
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    const marker: ManualStopMarker = {
      service,
      reason: opts.reason,
      by: opts.by,
      createdAt: (opts.now ?? new Date()).toISOString(),
    };
    await atomicWriteFile(this.file(service), `${JSON.stringify(marker)}\n`);
    return marker;
  }

  /** Returns whether a marker was removed. */
  async clear(service: string): Promise<boolean> {
    const path = this.file(service);
    try {
      await rm(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    await fsyncDir(this.dir);
    return true;
  }

  /** Names of the services with a marker (cheap: one readdir, read every cycle). */
  async list(): Promise<Set<string>> {
    try {
      const names = await readdir(this.dir);
      return new Set(
        names.filter((n) => n.endsWith(SUFFIX) && !n.startsWith('.')).map((n) => n.slice(0, -SUFFIX.length)),
      );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Set();
      throw err;
    }
  }

  /** True when any of the services has a marker (one stat per service: cheap enough before every step). */
  async anyOf(services: readonly string[]): Promise<boolean> {
    for (const s of services) {
      try {
        await access(this.file(s));
        return true;
      } catch {
        /* no marker */
      }
    }
    return false;
  }

  async has(service: string): Promise<boolean> {
    return (await this.list()).has(service);
  }

  async get(service: string): Promise<ManualStopMarker | null> {
    try {
      const parsed = ManualStopMarker.safeParse(JSON.parse(await readFile(this.file(service), 'utf8')));
      // A marker file that is not valid JSON still counts as a marker (a person may have `touch`ed it).
      return parsed.success ? parsed.data : { service, createdAt: new Date(0).toISOString() };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      return { service, createdAt: new Date(0).toISOString() };
    }
  }
}
