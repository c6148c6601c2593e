/**
 * Target from a local JSON file: either a TargetState (`{"services":{…}}`) or a TargetStateDocument
 * (`{"version":…, "target":{…}}`). Without an explicit version the content hash is the version. The file is
 * watched so that an edit is applied at once, not at the next 30 s cycle.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { TargetState } from '#contract/target-state.js';
import { ConfigError } from '../config.js';
import type { TargetProvider, TargetSnapshot } from './provider.js';

/**
 * Largest target file read: the control plane accepts a target body of at most 64 KiB; a hand-written file may
 * be indented, hence 4x that. Anything bigger is a mistake (or an attack on a device's memory), refused before
 * it is read into memory.
 */
export const MAX_TARGET_FILE_BYTES = 256 * 1024;

export class InvalidTargetError extends ConfigError {
  override name = 'InvalidTargetError';
}

export function parseTarget(text: string, origin: string): { version?: string; target: TargetState } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InvalidTargetError(`${origin}: not valid JSON (${(err as Error).message})`);
  }
  const doc = json as { version?: unknown; target?: unknown };
  const isDocument = !!doc && typeof doc === 'object' && 'target' in doc;
  const parsed = TargetState.safeParse(isDocument ? doc.target : json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new InvalidTargetError(`${origin}: invalid target state: ${issues}`);
  }
  return { ...(isDocument && typeof doc.version === 'string' ? { version: doc.version } : {}), target: parsed.data };
}

export class FileTargetProvider implements TargetProvider {
  readonly name = 'file';
  constructor(readonly path: string) {}

  async fetch(): Promise<TargetSnapshot> {
    const text = await readBounded(this.path);
    const { version, target } = parseTarget(text, this.path);
    return {
      version: version ?? `file-${createHash('sha256').update(text).digest('hex').slice(0, 12)}`,
      target,
      source: 'file',
    };
  }

  watch(onChange: () => void): () => void {
    let watcher: FSWatcher | undefined;
    let timer: NodeJS.Timeout | undefined;
    const name = basename(this.path);
    try {
      // Watch the directory: editors and atomic writers replace the file (rename), which a file watch misses.
      watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
        if (file && file.toString() !== name) return;
        clearTimeout(timer);
        timer = setTimeout(onChange, 50); // one trigger per burst of events
      });
      watcher.on('error', () => watcher?.close());
    } catch {
      /* no watch support: the interval still picks changes up */
    }
    return () => {
      clearTimeout(timer);
      watcher?.close();
    };
  }
}

async function readBounded(path: string): Promise<string> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
    const tooBig = () =>
      new InvalidTargetError(`target file ${path} is larger than ${MAX_TARGET_FILE_BYTES / 1024} KiB`);
    if ((await fh.stat()).size > MAX_TARGET_FILE_BYTES) throw tooBig();
    const text = await fh.readFile('utf8');
    if (Buffer.byteLength(text) > MAX_TARGET_FILE_BYTES) throw tooBig(); // it grew while we read it
    return text;
  } catch (err) {
    if (err instanceof InvalidTargetError) throw err;
    throw new InvalidTargetError(`cannot read target file ${path}: ${(err as Error).message}`);
  } finally {
    await fh?.close().catch(() => {});
  }
}
