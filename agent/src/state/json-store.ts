/**
 * JsonStore<T>: one JSON document in the state directory, validated with zod, written atomically, with a
 * previous-good copy.
 *
 * On disk (`<name>.json`):  {"format":"fleetmedic-store/1","savedAt":"…","sha256":"<hex of JSON(data)>","data":…}
 * Save: write `<name>.json` atomically; just before, the current file (when it is known good) is hard-linked
 *       and renamed to `<name>.prev.json`, so there is always a complete current file and a previous good one.
 * Load: current → (checksum, JSON or schema failure) → previous → (also bad) → fallback value. A corrupt
 *       current file is moved aside as `<name>.corrupt.json` on the next save (kept for inspection) instead of
 *       becoming the "previous good" copy.
 * Saves of one store are serialised; the in-memory value is the last one saved or loaded.
 */
import { createHash } from 'node:crypto';
import { link, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type * as z from 'zod/mini';
// English issue messages in `problems` (zod/mini alone says only "Invalid input").
import '#contract/zod-locale.js';
import { atomicWriteFile, fsyncDir } from './atomic.js';

const FORMAT = 'fleetmedic-store/1';

export type LoadSource = 'current' | 'previous' | 'default';

export interface LoadResult<T> {
  value: T;
  source: LoadSource;
  /** Why the current (and possibly previous) file was not used. */
  problems: string[];
}

export interface JsonStoreOptions<T> {
  dir: string;
  /** File base name: letters, digits, dash, underscore, dot. */
  name: string;
  schema: z.ZodMiniType<T>;
  fallback: () => T;
  /** File mode (default 0o600: state can hold job parameters). */
  mode?: number;
  /** Told about every save: null when it succeeded, the error when it did not (the state dir tracks failures). */
  onSaveResult?: (name: string, err: Error | null) => void;
}

export class JsonStore<T> {
  readonly path: string;
  readonly prevPath: string;
  readonly corruptPath: string;
  private current: T | undefined;
  private currentFileGood = false;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: JsonStoreOptions<T>) {
    if (!/^[A-Za-z0-9_.-]+$/.test(opts.name) || opts.name.startsWith('.'))
      throw new Error(`invalid store name '${opts.name}'`);
    this.path = join(opts.dir, `${opts.name}.json`);
    this.prevPath = join(opts.dir, `${opts.name}.prev.json`);
    this.corruptPath = join(opts.dir, `${opts.name}.corrupt.json`);
  }

  get name(): string {
    return this.opts.name;
  }

  /** Last loaded or saved value (loads lazily with `load()`; before that, the fallback). */
  get value(): T {
    return this.current ?? this.opts.fallback();
  }

  async load(): Promise<LoadResult<T>> {
    const problems: string[] = [];
    const cur = await this.readValid(this.path);
    if (cur.ok) {
      this.current = cur.value;
      this.currentFileGood = true;
      return { value: cur.value, source: 'current', problems };
    }
    this.currentFileGood = false;
    if (cur.problem !== 'missing') problems.push(`${this.opts.name}.json: ${cur.problem}`);
    const prev = await this.readValid(this.prevPath);
    if (prev.ok) {
      this.current = prev.value;
      return { value: prev.value, source: 'previous', problems };
    }
    if (prev.problem !== 'missing') problems.push(`${this.opts.name}.prev.json: ${prev.problem}`);
    this.current = this.opts.fallback();
    return { value: this.current, source: 'default', problems };
  }

  save(value: T): Promise<void> {
    const run = this.chain
      .then(() => this.doSave(value))
      .then(
        () => this.opts.onSaveResult?.(this.opts.name, null),
        (err: Error) => {
          this.opts.onSaveResult?.(this.opts.name, err);
          throw err;
        },
      );
    this.chain = run.catch(() => {});
    return run;
  }

  /** Read-modify-write, serialised with other saves of this store. */
  update(fn: (current: T) => T): Promise<T> {
    const run = this.chain.then(async () => {
      const next = fn(this.value);
      try {
        await this.doSave(next);
      } catch (err) {
        this.opts.onSaveResult?.(this.opts.name, err as Error);
        throw err;
      }
      this.opts.onSaveResult?.(this.opts.name, null);
      return next;
    });
    this.chain = run.catch(() => {});
    return run;
  }

  private async doSave(value: T): Promise<void> {
    const checked = this.opts.schema.safeParse(value);
    if (!checked.success) throw new Error(`refusing to save invalid ${this.opts.name}: ${checked.error.message}`);
    const data = checked.data;
    const json = JSON.stringify(data);
    const envelope = `{"format":"${FORMAT}","savedAt":${JSON.stringify(new Date().toISOString())},"sha256":"${sha256(json)}","data":${json}}\n`;
    if (this.currentFileGood) {
      // Keep the last good version: hard link + rename keeps a complete current file at every instant.
      const tmpPrev = `${this.prevPath}.${process.pid}.link`;
      try {
        await rm(tmpPrev, { force: true });
        await link(this.path, tmpPrev);
        await rename(tmpPrev, this.prevPath);
      } catch (err) {
        await rm(tmpPrev, { force: true }).catch(() => {});
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    } else {
      // A corrupt current file must not become the "previous good" copy; keep it aside for inspection.
      await rename(this.path, this.corruptPath).catch(() => {});
    }
    await atomicWriteFile(this.path, envelope, { mode: this.opts.mode ?? 0o600 });
    await fsyncDir(this.opts.dir);
    this.current = data;
    this.currentFileGood = true;
  }

  private async readValid(path: string): Promise<{ ok: true; value: T } | { ok: false; problem: string }> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: false, problem: 'missing' };
      return { ok: false, problem: `unreadable (${(err as Error).message})` };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { ok: false, problem: 'not valid JSON (truncated or corrupt)' };
    }
    const env = parsed as { format?: unknown; sha256?: unknown; data?: unknown };
    if (!env || typeof env !== 'object' || env.format !== FORMAT || typeof env.sha256 !== 'string' || !('data' in env))
      return { ok: false, problem: 'not a store envelope' };
    if (sha256(JSON.stringify(env.data)) !== env.sha256) return { ok: false, problem: 'checksum mismatch' };
    const result = this.opts.schema.safeParse(env.data);
    if (!result.success)
      return {
        ok: false,
        problem: `schema: ${result.error.issues
          .map((i) => `${i.path.join('.')}: ${i.message}`)
          .join('; ')
          .slice(0, 300)}`,
      };
    return { ok: true, value: result.data };
  }
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
