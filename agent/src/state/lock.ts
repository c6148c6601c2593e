/**
 * One agent per state directory: `agent.lock` holds {pid, startTime, hostname, nonce, acquiredAt}.
 * - Created with O_EXCL, so two agents starting together cannot both win.
 * - Stale detection: the holder's PID is dead, or alive but with a different process start time (the PID was
 *   reused after a reboot/crash), or the file is unreadable and older than a few seconds (a crash between
 *   create and write). A stale lock is renamed aside (atomic: one taker wins) and creation is retried.
 * - A live holder (same host) → LockHeldError; a lock still unreadable after the retries and too young to be
 *   stale → LockContendedError (the CLI maps both to exit code 2).
 * - After a takeover the set-aside `agent.lock.stale` is removed; the caller logs `tookOverFrom`.
 * - Release removes the file only if it still carries our nonce.
 */
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';

export interface LockInfo {
  pid: number;
  /** Process start time in clock ticks since boot (Linux /proc/<pid>/stat field 22); null where unknown. */
  startTime: string | null;
  hostname: string;
  nonce: string;
  acquiredAt: string;
}

export class LockHeldError extends Error {
  constructor(
    readonly path: string,
    readonly holder: LockInfo,
  ) {
    super(`state directory is locked by pid ${holder.pid} on ${holder.hostname} since ${holder.acquiredAt} (${path})`);
    this.name = 'LockHeldError';
  }
}

/**
 * The lock file exists but cannot be read yet, and is too young to be a crashed writer's leftover: another
 * agent is most likely writing it right now. Refused like a held lock (exit code 2), never taken over.
 */
export class LockContendedError extends Error {
  constructor(readonly path: string) {
    super(
      `state directory lock ${path} is being written by another process (unreadable and only just created); not starting a second agent`,
    );
    this.name = 'LockContendedError';
  }
}

export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? null; // field 22 overall = index 19 after pid and comm
  } catch {
    return null;
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Why a lock is stale, or null when its holder is alive. */
export function staleReason(info: LockInfo): string | null {
  if (info.hostname !== hostname()) return null; // cannot check another host's processes: respect it
  if (!pidAlive(info.pid)) return `pid ${info.pid} is not running`;
  if (info.startTime) {
    const now = processStartTime(info.pid);
    if (now && now !== info.startTime) return `pid ${info.pid} was reused by another process`;
  }
  return null;
}

export class StateLock {
  private released = false;
  constructor(
    readonly path: string,
    readonly info: LockInfo,
    /** Set when a stale lock was taken over. */
    readonly tookOverFrom?: { info: LockInfo | null; reason: string },
  ) {}

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (readHolderSync(this.path)?.nonce === this.info.nonce) await rm(this.path, { force: true });
  }

  /** For `process.on('exit')`, where nothing async runs. */
  releaseSync(): void {
    if (this.released) return;
    this.released = true;
    if (readHolderSync(this.path)?.nonce === this.info.nonce) rmSync(this.path, { force: true });
  }
}

function readHolderSync(path: string): LockInfo | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
  } catch {
    return null;
  }
}

export async function readLock(path: string): Promise<LockInfo | null> {
  try {
    const info = JSON.parse(await readFile(path, 'utf8')) as LockInfo;
    return typeof info?.pid === 'number' ? info : null;
  } catch {
    return null;
  }
}

export async function acquireLock(path: string, opts: { unreadableStaleAfterMs?: number } = {}): Promise<StateLock> {
  const info: LockInfo = {
    pid: process.pid,
    startTime: processStartTime(process.pid),
    hostname: hostname(),
    nonce: randomBytes(8).toString('hex'),
    acquiredAt: new Date().toISOString(),
  };
  let tookOver: { info: LockInfo | null; reason: string } | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o644);
      try {
        await fh.writeFile(`${JSON.stringify(info)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      // The stale lock set aside has served its purpose (it only guarded the takeover race).
      if (tookOver) await rm(`${path}.stale`, { force: true }).catch(() => {});
      return new StateLock(path, info, tookOver);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await readLock(path);
    let reason: string | null;
    if (holder) reason = staleReason(holder);
    else {
      // Unreadable: its creator may be between open and write. Only old unreadable files are stale.
      const age = await stat(path).then(
        (s) => Date.now() - s.mtimeMs,
        () => Number.POSITIVE_INFINITY,
      );
      reason = age > (opts.unreadableStaleAfterMs ?? 5_000) ? 'unreadable lock file' : null;
      if (!reason) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
    }
    if (!reason) throw new LockHeldError(path, holder!);
    // Rename aside instead of unlinking: of two agents taking over at once only one rename succeeds.
    const aside = `${path}.stale`;
    try {
      await rename(path, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      continue;
    }
    const moved = await readLock(aside);
    if (holder && moved && moved.nonce !== holder.nonce) {
      // We raced another taker and moved ITS fresh lock: put it back (link never clobbers) and re-check.
      await link(aside, path).catch(() => {});
      continue;
    }
    tookOver = { info: holder, reason };
  }
  throw new LockContendedError(path);
}
