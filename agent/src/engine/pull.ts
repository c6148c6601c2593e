/**
 * Image pull with progress-stream parsing. The two engines fail differently:
 * - Docker answers the POST /images/create with an HTTP error (404 "manifest unknown", 401/403...);
 * - Podman answers 200 and reports the failure INSIDE the progress stream as {"error": ..., "errorDetail": ...}.
 * Both end here as the same StepError (ErrImagePull, classified permanent/transient, DiskFull for ENOSPC) with
 * the registry's own message. A stream that ends without error is confirmed with an inspect (a truncated
 * stream is not a pull).
 */
import type Docker from 'dockerode';
import { classifyPullError, toStepError, StepError } from '../backoff/errors.js';

export interface PullProgress {
  status?: string;
  id?: string;
  error?: string;
  errorDetail?: { message?: string };
}

export interface PullOptions {
  timeoutMs?: number;
  onProgress?: (p: PullProgress) => void;
}

/** Splits a progress stream into JSON lines (lines may be split across chunks). Returns the first error. */
export class ProgressParser {
  private buf = '';
  error: string | undefined;
  lines = 0;
  constructor(private readonly onProgress?: (p: PullProgress) => void) {}

  push(chunk: Buffer | string): void {
    this.buf += chunk.toString();
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      this.line(this.buf.slice(0, i));
      this.buf = this.buf.slice(i + 1);
    }
  }

  end(): void {
    if (this.buf.trim()) this.line(this.buf);
    this.buf = '';
  }

  private line(raw: string): void {
    const text = raw.trim();
    if (!text) return;
    this.lines++;
    let p: PullProgress;
    try {
      p = JSON.parse(text) as PullProgress;
    } catch {
      return; // not JSON: ignore (some proxies inject keep-alives)
    }
    if (!this.error && (p.error || p.errorDetail?.message)) this.error = (p.errorDetail?.message || p.error || '').trim();
    this.onProgress?.(p);
  }
}

export async function pullImage(docker: Docker, ref: string, opts: PullOptions = {}): Promise<void> {
  let stream: NodeJS.ReadableStream;
  try {
    stream = (await docker.pull(ref)) as NodeJS.ReadableStream;
  } catch (err) {
    throw toStepError('pullImage', err); // Docker: 404/401/5xx as the HTTP answer
  }
  const parser = new ProgressParser(opts.onProgress);
  await new Promise<void>((resolve, reject) => {
    const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
    const timer = setTimeout(() => {
      (stream as unknown as { destroy?: (e?: Error) => void }).destroy?.();
      reject(new StepError(`pull of ${ref} timed out after ${Math.round(timeoutMs / 1000)} s`, 'ErrImagePull', false));
    }, timeoutMs);
    stream.on('data', (c: Buffer) => parser.push(c));
    stream.on('end', () => {
      clearTimeout(timer);
      parser.end();
      resolve();
    });
    stream.on('error', (err: Error) => {
      clearTimeout(timer);
      reject(classifyPullError(`pull stream failed: ${err.message}`));
    });
  });
  if (parser.error) throw classifyPullError(parser.error); // Podman: the error inside a 200 stream
  try {
    await docker.getImage(ref).inspect();
  } catch {
    throw new StepError(`pull of ${ref} ended without an error but the image is not present`, 'ErrImagePull', false);
  }
}
