/**
 * The on-disk report outbox: every report is written here (with its sequence number) before it is sent, and
 * deleted once the API acknowledged it. While the API is unreachable the reports wait here, bounded: past
 * `maxReports` (or `maxBytes`) the OLDEST are dropped and counted, and the count travels in the next delivered
 * report as `droppedReports` (then starts again at 0). Delivery is strictly in sequence order.
 *
 * Layout under `dir`:  <seq, 16 digits>.json (one report each, written atomically)  and  meta.json
 * ({nextSeq, dropped}, atomically). The sequence survives restarts: on load, nextSeq is the larger of the
 * stored value and the newest report file + 1, so a crash between the two writes cannot reuse a number.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeviceReport } from '#contract/report.js';
import { MAX_REPORT_BYTES } from '#contract/report.js';
import { atomicWriteFile, fsyncDir, removeStaleTemps } from '../state/atomic.js';

export interface ReportBufferOptions {
  dir: string;
  maxReports?: number;
  maxBytes?: number;
}

interface Meta {
  nextSeq: number;
  dropped: number;
}

const NAME = /^(\d{16})\.json$/;
const fileName = (seq: number) => `${String(seq).padStart(16, '0')}.json`;

export class ReportBuffer {
  private readonly dir: string;
  private readonly maxReports: number;
  private readonly maxBytes: number;
  /** Buffered reports, oldest first: seq and size on disk. */
  private index: Array<{ seq: number; bytes: number }> = [];
  private meta: Meta = { nextSeq: 1, dropped: 0 };
  private chain: Promise<unknown> = Promise.resolve();

  constructor(opts: ReportBufferOptions) {
    this.dir = opts.dir;
    this.maxReports = opts.maxReports ?? 500;
    this.maxBytes = opts.maxBytes ?? 8 * 1024 * 1024;
  }

  async load(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await removeStaleTemps(this.dir, 0);
    try {
      const m = JSON.parse(await readFile(join(this.dir, 'meta.json'), 'utf8')) as Partial<Meta>;
      if (Number.isSafeInteger(m.nextSeq) && m.nextSeq! >= 1) this.meta.nextSeq = m.nextSeq!;
      if (Number.isSafeInteger(m.dropped) && m.dropped! >= 0) this.meta.dropped = m.dropped!;
    } catch {
      /* first start, or a torn meta file: the report files below still give the sequence */
    }
    const index: Array<{ seq: number; bytes: number }> = [];
    for (const name of await readdir(this.dir)) {
      const m = NAME.exec(name);
      if (!m) continue;
      const seq = Number(m[1]);
      try {
        const text = await readFile(join(this.dir, name), 'utf8');
        JSON.parse(text); // a file that does not parse cannot be delivered: drop and count it
        index.push({ seq, bytes: Buffer.byteLength(text) });
      } catch {
        await rm(join(this.dir, name), { force: true });
        this.meta.dropped++;
      }
    }
    index.sort((a, b) => a.seq - b.seq);
    this.index = index;
    const newest = index.at(-1)?.seq ?? 0;
    if (this.meta.nextSeq <= newest) this.meta.nextSeq = newest + 1;
  }

  get size(): number {
    return this.index.length;
  }

  get dropped(): number {
    return this.meta.dropped;
  }

  get nextSeq(): number {
    return this.meta.nextSeq;
  }

  /** Sequence numbers waiting, oldest first. */
  seqs(): number[] {
    return this.index.map((e) => e.seq);
  }

  /** Assigns the next sequence number, persists the report, enforces the bound. Returns the report. */
  append(report: Omit<DeviceReport, 'seq'>): Promise<DeviceReport> {
    return this.serial(async () => {
      const seq = this.meta.nextSeq++;
      const full = fitToLimit({ ...report, seq } as DeviceReport);
      const text = JSON.stringify(full);
      await atomicWriteFile(join(this.dir, fileName(seq)), text, { mode: 0o600 });
      this.index.push({ seq, bytes: Buffer.byteLength(text) });
      await this.enforceBound();
      await this.saveMeta();
      return full;
    });
  }

  /** The oldest buffered report, with the current drop count filled in. */
  peek(): Promise<DeviceReport | null> {
    return this.serial(async () => {
      for (;;) {
        const head = this.index[0];
        if (!head) return null;
        try {
          const r = JSON.parse(await readFile(join(this.dir, fileName(head.seq)), 'utf8')) as DeviceReport;
          return { ...r, droppedReports: this.meta.dropped };
        } catch {
          // vanished or corrupt on disk: it cannot be delivered; count it as dropped
          this.index.shift();
          this.meta.dropped++;
        }
      }
    });
  }

  /** The API stored `seq` (applied or duplicate): delete it; the drop count was delivered with it. */
  ack(seq: number, deliveredDropped: number): Promise<void> {
    return this.serial(async () => {
      const i = this.index.findIndex((e) => e.seq === seq);
      if (i < 0) return;
      this.index.splice(i, 1);
      await rm(join(this.dir, fileName(seq)), { force: true });
      this.meta.dropped = Math.max(0, this.meta.dropped - deliveredDropped);
      await this.saveMeta();
    });
  }

  /** Drops one report the API refuses for good (a 4xx other than a stale sequence), counting it. */
  reject(seq: number): Promise<void> {
    return this.serial(async () => {
      const i = this.index.findIndex((e) => e.seq === seq);
      if (i < 0) return;
      this.index.splice(i, 1);
      await rm(join(this.dir, fileName(seq)), { force: true });
      this.meta.dropped++;
      await this.saveMeta();
    });
  }

  /**
   * The API already holds a higher sequence (409 stale_sequence: this device's state directory was reset or
   * restored from a backup). Renumber every waiting report, in order, to follow `lastSeq`.
   */
  renumberAfter(lastSeq: number): Promise<void> {
    return this.serial(async () => {
      let next = lastSeq + 1;
      const renumbered: Array<{ seq: number; bytes: number }> = [];
      for (const e of this.index) {
        const path = join(this.dir, fileName(e.seq));
        let r: DeviceReport;
        try {
          r = JSON.parse(await readFile(path, 'utf8')) as DeviceReport;
        } catch {
          this.meta.dropped++;
          continue;
        }
        const seq = next++;
        const text = JSON.stringify({ ...r, seq });
        await atomicWriteFile(join(this.dir, fileName(seq)), text, { mode: 0o600 });
        if (seq !== e.seq) await rm(path, { force: true });
        renumbered.push({ seq, bytes: Buffer.byteLength(text) });
      }
      this.index = renumbered;
      this.meta.nextSeq = Math.max(this.meta.nextSeq, next);
      await this.saveMeta();
      await fsyncDir(this.dir);
    });
  }

  private async enforceBound(): Promise<void> {
    let bytes = this.index.reduce((n, e) => n + e.bytes, 0);
    while (this.index.length > 1 && (this.index.length > this.maxReports || bytes > this.maxBytes)) {
      const oldest = this.index.shift()!;
      bytes -= oldest.bytes;
      this.meta.dropped++;
      await rm(join(this.dir, fileName(oldest.seq)), { force: true });
    }
  }

  private saveMeta(): Promise<void> {
    return atomicWriteFile(join(this.dir, 'meta.json'), JSON.stringify(this.meta), { mode: 0o600 });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => {});
    return run;
  }
}

/** A report must fit the API's body limit: shorten free-text fields (never drop services) until it does. */
export function fitToLimit(original: DeviceReport, limit = MAX_REPORT_BYTES - 1024): DeviceReport {
  let report = original;
  if (Buffer.byteLength(JSON.stringify(report)) <= limit) return report;
  for (const max of [256, 64, 0]) {
    report = {
      ...report,
      services: report.services.map((s) => ({
        ...s,
        error: s.error
          ? {
              ...s.error,
              message: s.error.message.slice(0, Math.max(max, 16)),
              attempted: s.error.attempted.slice(-5).map((a) => a.slice(0, max || 32)),
            }
          : s.error,
        lastHealthCheck: s.lastHealthCheck
          ? { ...s.lastHealthCheck, message: s.lastHealthCheck.message?.slice(0, max) }
          : s.lastHealthCheck,
      })),
    };
    if (Buffer.byteLength(JSON.stringify(report)) <= limit) break;
  }
  return report;
}
