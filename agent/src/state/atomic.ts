/**
 * Atomic file replacement: write a temp file in the same
 * directory, fsync it, rename it over the target, fsync the directory. A reader (or a crash at any instant)
 * sees the old complete file or the new complete file, never a mix. Writes in flight are tracked so a clean
 * shutdown can wait for them (`settleWrites`).
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, rm, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const inFlight = new Set<Promise<unknown>>();

export interface AtomicWriteOptions {
  mode?: number;
}

export function atomicWriteFile(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const p = doWrite(path, data, opts);
  inFlight.add(p);
  const done = () => inFlight.delete(p);
  p.then(done, done);
  return p;
}

async function doWrite(path: string, data: string | Uint8Array, opts: AtomicWriteOptions): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'w', opts.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}

/** Makes a rename durable. Some filesystems refuse fsync on a directory: that is not an error for us. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    /* best effort (EISDIR/EINVAL/EPERM on some filesystems) */
  } finally {
    await fh?.close().catch(() => {});
  }
}

/** Waits for every atomic write in flight (used on SIGTERM before the lock is released). */
export async function settleWrites(): Promise<void> {
  while (inFlight.size) await Promise.allSettled([...inFlight]);
}

/** Removes temp files a crashed process left behind (older than `minAgeMs`, never another live writer's). */
export async function removeStaleTemps(dir: string, minAgeMs = 60_000): Promise<number> {
  let n = 0;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!name.startsWith('.') || !name.endsWith('.tmp')) continue;
    const p = join(dir, name);
    try {
      const s = await stat(p);
      if (Date.now() - s.mtimeMs < minAgeMs) continue;
      await rm(p, { force: true });
      n++;
    } catch {
      /* raced with its owner */
    }
  }
  return n;
}
