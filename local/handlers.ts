/**
 * Finds the real Lambda handlers (functions/handlers/<name>.ts, each exporting `handler`) for the local fleet.
 * A handler whose file does not exist yet is reported by name; nothing is faked in its place.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LocalHandler } from './lambda-context.js';
import { FUNCTION_NAMES, type FunctionName } from '../infra/spec.js';

export { FUNCTION_NAMES, type FunctionName };

/** What each function does, for messages about a missing one. */
export const FUNCTION_ROLES: Record<FunctionName, string> = {
  'device-api': 'device routes (register/report/jobs/target)',
  'operator-api': 'operator routes (devices, jobs, circuit, events, DLQ)',
  'job-dispatcher': 'jobs queue consumer',
  'outbox-publisher': 'outbox schedule',
  'job-timeout-sweeper': 'job timeout schedule',
  'health-evaluator': 'health evaluation schedule',
  'rollout-controller': 'rollout schedule',
  'slack-forwarder': 'alerts queue → Slack',
  'device-socket': 'push channel WebSocket routes ($connect/$disconnect/$default)',
};

export const HANDLERS_DIR = join(import.meta.dirname, '..', 'functions', 'handlers');

export class MissingHandlerError extends Error {
  constructor(
    readonly functionName: string,
    readonly file: string,
    cause?: unknown,
  ) {
    super(
      `handler '${functionName}' is not available: ${file} ${cause ? `failed to load (${(cause as Error).message})` : 'does not exist yet'}`,
    );
    this.name = 'MissingHandlerError';
  }
}

export type HandlerResolver = (name: string) => Promise<LocalHandler>;

export function handlerFile(name: string, dir = HANDLERS_DIR): string {
  return join(dir, `${name}.ts`);
}

export function missingHandlers(dir = HANDLERS_DIR): FunctionName[] {
  return FUNCTION_NAMES.filter((n) => !existsSync(handlerFile(n, dir)));
}

/**
 * Resolve handlers from a directory (default: functions/handlers). Modules are imported once and cached,
 * like a warm Lambda; a load failure is not cached so a file that appears later is picked up.
 */
export function handlersFromDirectory(dir = HANDLERS_DIR): HandlerResolver {
  const cache = new Map<string, Promise<LocalHandler>>();
  return (name) => {
    let p = cache.get(name);
    if (!p) {
      p = load(name, dir);
      cache.set(name, p);
      p.catch(() => cache.delete(name));
    }
    return p;
  };
}

async function load(name: string, dir: string): Promise<LocalHandler> {
  const file = handlerFile(name, dir);
  if (!existsSync(file)) throw new MissingHandlerError(name, file);
  let mod: { handler?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { handler?: unknown };
  } catch (err) {
    throw new MissingHandlerError(name, file, err);
  }
  if (typeof mod.handler !== 'function')
    throw new MissingHandlerError(name, file, new Error('it does not export a `handler` function'));
  return mod.handler as LocalHandler;
}
