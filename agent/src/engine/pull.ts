/**
 * Image pull with progress-stream parsing. The two engines fail differently:
 * - Docker answers the POST /images/create with an HTTP error (404 "manifest unknown", 401/403...);
 * - Podman answers 200 and reports the failure INSIDE the progress stream as {"error": ..., "errorDetail": ...}.
 * Both end here as the same StepError (ErrImagePull, classified permanent/transient, DiskFull for ENOSPC) with
 * the registry's own message. A stream that ends without error is confirmed with an inspect (a truncated
 * stream is not a pull).
 * A private registry's credential (registry-auth.ts) travels as X-Registry-Auth; a refusal names the credential
 * that was used, or says that none was, so the report tells the operator what to fix (never the value).
 */
import type Docker from 'dockerode';
import { classifyPullError, toStepError, StepError } from '../backoff/errors.js';
import { registryOfImage, type ImageAuth } from './registry-auth.js';

export interface PullProgress {
  status?: string;
  id?: string;
  error?: string;
  errorDetail?: { message?: string };
}

export interface PullOptions {
  timeoutMs?: number;
  onProgress?: (p: PullProgress) => void;
  /** The credential for the image's registry, when the cloud delivered one. */
  auth?: ImageAuth;
}

const AUTH_REFUSED = [
  /unauthori[sz]ed/i,
  /authentication required/i,
  /incorrect username or password/i,
  /pull access denied/i,
  /denied:/i,
];

/** A registry refusal says which credential was tried (by name) or that none was; other errors pass as they are. */
export function explainPullError(ref: string, err: StepError, auth: ImageAuth | undefined): StepError {
  const refused = err.statusCode === 401 || err.statusCode === 403 || AUTH_REFUSED.some((r) => r.test(err.message));
  if (!refused) return err;
  const registry = registryOfImage(ref);
  const why = auth
    ? `registry ${registry} refused registry credential '${auth.name}' (wrong username or password, or no pull access to this repository): store the right one with \`fleetmedic registry-credential set ${auth.name}\``
    : `no registry credential for ${registry} was delivered with the target: if the image is private, store one (\`fleetmedic registry-credential set <name>\`) and name it in the target's registryCredentials`;
  return new StepError(
    `pull of ${ref} refused: ${why} (registry said: ${err.message})`,
    err.type,
    true,
    err.statusCode,
  );
}

/** Splits a progress stream into JSON lines (lines may be split across chunks). Returns the first error. */
export class ProgressParser {
  private buf = '';
  error: string | undefined;
  lines = 0;
  constructor(private readonly onProgress?: (p: PullProgress) => void) {}

  push(chunk: Buffer | string): void {
    this.buf += chunk.toString();
    for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
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
    if (!this.error && (p.error || p.errorDetail?.message))
      this.error = (p.errorDetail?.message || p.error || '').trim();
    this.onProgress?.(p);
  }
}

export async function pullImage(docker: Docker, ref: string, opts: PullOptions = {}): Promise<void> {
  let stream: NodeJS.ReadableStream;
  try {
    // A fresh options object each time: docker-modem deletes `authconfig` from it after building the header.
    stream = (await docker.pull(ref, opts.auth ? { authconfig: { ...opts.auth.auth } } : {})) as NodeJS.ReadableStream;
  } catch (err) {
    throw explainPullError(ref, toStepError('pullImage', err), opts.auth); // Docker: 404/401/5xx as the HTTP answer
  }
  // The connection's idle timeout (docker.ts) is for single calls; a pull is bounded by its own timeout below.
  (stream as { socket?: { setTimeout(ms: number): void } }).socket?.setTimeout(0);
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
      reject(Object.assign(classifyPullError(`pull stream failed: ${err.message}`), { cause: err }));
    });
  });
  if (parser.error) throw explainPullError(ref, classifyPullError(parser.error), opts.auth); // Podman: the error inside a 200 stream
  try {
    await docker.getImage(ref).inspect();
  } catch {
    throw new StepError(`pull of ${ref} ended without an error but the image is not present`, 'ErrImagePull', false);
  }
}
