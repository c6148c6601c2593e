/**
 * Step errors and their classification (pure: works on messages and HTTP status codes only).
 *
 * Permanent: will not fix itself by waiting: image/tag/manifest not found, bad or missing credentials,
 * an invalid spec (the engine rejects the config, the command does not exist, a foreign container holds
 * the name). Only a new target (or a person) fixes them.
 * Transient: may fix itself: registry unreachable, timeouts, 5xx, rate limiting, a busy port.
 * DiskFull is its own type (a person or a cleanup job must free space) but is transient: freeing space fixes it.
 */
import type { ServiceErrorType } from '#contract/report.js';
import type { StepAction } from '../planner/types.js';

export type { StepAction };

export class StepError extends Error {
  constructor(
    message: string,
    readonly type: ServiceErrorType,
    readonly permanent: boolean,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'StepError';
  }
}

const PERMANENT_PULL = [
  /manifest unknown/i,
  /manifest for .* not found/i,
  /not found: manifest/i,
  /name unknown/i,
  /repository does not exist/i,
  /no such image/i,
  /image not known/i,
  /pull access denied/i,
  /unauthori[sz]ed/i,
  /authentication required/i,
  /incorrect username or password/i,
  /denied:/i,
  /invalid reference format/i,
  /\b(401|403)\b.*(unauthori|forbidden)/i,
];

const DISK_FULL = [/no space left on device/i, /disk quota exceeded/i, /\bENOSPC\b/];

/**
 * A host port held by another process (or by a container being torn down): it may well be free a moment
 * later, so retrying on the backoff schedule is right. Checked before PERMANENT_SPEC ("already in use").
 * Two services of one target publishing the same port are refused before anything runs (the contract).
 */
const BUSY_PORT = [/address already in use/i, /port is already allocated/i, /\bEADDRINUSE\b/];

const PERMANENT_SPEC = [
  /invalid (argument|config|spec|mount|volume|port|restart policy)/i,
  /invalid reference/i,
  /executable file not found/i,
  /command was not found/i,
  /no such file or directory: OCI runtime/i,
  /already in use/i,
  /conflict/i,
  /bind source path does not exist/i,
];

/** Extracts the engine's own message from a dockerode error (`(HTTP code 404) unexpected - <message>`). */
export function engineMessage(err: unknown): string {
  const e = err as { json?: { message?: string } | string | null; message?: string; reason?: string } | null;
  if (e && typeof e.json === 'object' && e.json && typeof e.json.message === 'string' && e.json.message.trim())
    return e.json.message.trim();
  const raw = (e && typeof e.message === 'string' ? e.message : String(err)).trim();
  const m = /^\(HTTP code \d+\) [^-]*- (.*)$/s.exec(raw);
  return (m?.[1] ?? raw).trim() || raw;
}

export function statusCodeOf(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** A failed pull (Docker's 404 answer or Podman's `{"error":...}` line inside a 200 stream) as a step error. */
export function classifyPullError(message: string, statusCode?: number): StepError {
  if (DISK_FULL.some((r) => r.test(message))) return new StepError(message, 'DiskFull', false, statusCode);
  const permanent =
    statusCode === 404 || statusCode === 401 || statusCode === 403 || PERMANENT_PULL.some((r) => r.test(message));
  return new StepError(message, 'ErrImagePull', permanent, statusCode);
}

/** A failed create/start/stop/remove/restart. Create-time rejections are InvalidSpec. */
export function classifyContainerError(action: StepAction, message: string, statusCode?: number): StepError {
  if (DISK_FULL.some((r) => r.test(message))) return new StepError(message, 'DiskFull', false, statusCode);
  if (BUSY_PORT.some((r) => r.test(message))) return new StepError(message, 'StartFailure', false, statusCode);
  const specLike = PERMANENT_SPEC.some((r) => r.test(message)) || statusCode === 409;
  if (action === 'createContainer') {
    if (statusCode === 404 && /image/i.test(message)) return new StepError(message, 'ErrImagePull', false, statusCode);
    if (specLike || statusCode === 400) return new StepError(message, 'InvalidSpec', true, statusCode);
    return new StepError(message, 'StartFailure', false, statusCode);
  }
  return new StepError(message, 'StartFailure', specLike, statusCode);
}

/** Any thrown value → StepError (already classified errors pass through). */
export function toStepError(action: StepAction, err: unknown): StepError {
  if (err instanceof StepError) return err;
  const message = engineMessage(err).slice(0, 2000);
  const code = statusCodeOf(err);
  const e = action === 'pullImage' ? classifyPullError(message, code) : classifyContainerError(action, message, code);
  // The original stays reachable: "could not reach the engine" is told apart by its code (engine/availability.ts).
  return Object.assign(e, { cause: err });
}
