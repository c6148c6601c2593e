/**
 * Requests from the command line to the running agent: `<stateDir>/requests/<kind>[-<service>].req`.
 *   retry-<service>   `fleetmedic-agent retry <service>`: skip the service's backoff wait and recovery's
 *                     CrashLoopBackOff now (offline mode's retry-now; the cloud sends a retry-now job instead)
 *   reconcile         `stop` / `start` changed a marker: reconcile now
 * Files, not signals: a request written while no agent runs waits for the next one, two requests in quick
 * succession are both seen, and each is taken exactly once (removed before it is acted on). The agent watches
 * the directory and also looks at every cycle, so a missed watch event costs at most one interval.
 * SIGHUP stays what it is for daemons: re-read the target and retry everything now.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { ServiceName } from '#contract/common.js';
import { atomicWriteFile } from './atomic.js';

export type AgentRequest = { kind: 'retry'; service: string } | { kind: 'reconcile' };

const SUFFIX = '.req';

export class RequestQueue {
  readonly dir: string;
  constructor(stateDir: string) {
    this.dir = join(stateDir, 'requests');
  }

  async add(req: AgentRequest): Promise<void> {
    const name = req.kind === 'retry' ? `retry-${ServiceName.parse(req.service)}` : 'reconcile';
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    await atomicWriteFile(
      join(this.dir, `${name}${SUFFIX}`),
      `${JSON.stringify({ ...req, at: new Date().toISOString() })}\n`,
    );
  }

  /** The requests waiting, each removed from disk as it is taken (another taker never gets it too). */
  async take(): Promise<AgentRequest[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: AgentRequest[] = [];
    for (const file of names) {
      if (!file.endsWith(SUFFIX) || file.startsWith('.')) continue;
      const name = file.slice(0, -SUFFIX.length);
      try {
        await rm(join(this.dir, file));
      } catch {
        continue; // taken meanwhile
      }
      if (name === 'reconcile') out.push({ kind: 'reconcile' });
      else if (name.startsWith('retry-') && ServiceName.safeParse(name.slice(6)).success)
        out.push({ kind: 'retry', service: name.slice(6) });
    }
    return out;
  }

  /** Calls `onRequest` when a request file appears (best effort: cycles look too). Returns the unwatch. */
  watch(onRequest: () => void): () => void {
    let watcher: FSWatcher | undefined;
    let timer: NodeJS.Timeout | undefined;
    let closed = false;
    void mkdir(this.dir, { recursive: true, mode: 0o755 })
      .then(() => {
        if (closed) return;
        watcher = watch(this.dir, { persistent: false }, (_e, file) => {
          if (file && !file.toString().endsWith(SUFFIX)) return; // atomic writes' temp files
          clearTimeout(timer);
          timer = setTimeout(onRequest, 20);
        });
        watcher.on('error', () => watcher?.close());
      })
      .catch(() => {});
    return () => {
      closed = true;
      clearTimeout(timer);
      watcher?.close();
    };
  }
}
