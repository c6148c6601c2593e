/**
 * Logging: pino. `--log-json` writes pino's JSON lines; otherwise a tiny formatter turns each line into
 * `HH:MM:SS.mmm LEVEL msg key=value …` (no pino-pretty dependency, no worker thread).
 */
import pino, { type Logger } from 'pino';
import { jobCorrelationId } from './job-context.js';

export type { Logger };

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name']);

export function formatLine(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof o.time === 'number' ? new Date(o.time).toISOString().slice(11, 23) : '';
  const extras = Object.entries(o)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${LEVELS[o.level as number] ?? o.level} ${o.msg ?? ''}${extras ? `  ${extras}` : ''}\n`;
}

export interface LogOptions {
  json: boolean;
  level?: string;
  /** Defaults to stdout. */
  write?: (s: string) => void;
}

export function createLogger(opts: LogOptions): Logger {
  const write = opts.write ?? ((s: string) => void process.stdout.write(s));
  const dest = { write: (line: string) => write(opts.json ? line : formatLine(line)) };
  return pino(
    {
      level: opts.level ?? process.env.FLEETMEDIC_LOG_LEVEL ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.epochTime,
      // While a job runs, every line carries its correlation id (job-context.ts).
      mixin: () => {
        const correlationId = jobCorrelationId();
        return correlationId ? { correlationId } : {};
      },
    },
    dest,
  );
}

/** A logger that drops everything (tests that don't care). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
