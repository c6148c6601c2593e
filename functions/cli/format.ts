/**
 * Human output of the CLI, pure (time comes in as `now`, colour as a flag): tables, health at a glance,
 * Kubernetes-style error badges with retry countdowns (`ImagePullBackOff(3) retry in 40s`).
 */
export interface Style {
  color: boolean;
}

const codes = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
  magenta: [35, 39],
} as const;
export type Paint = keyof typeof codes;
export const paint = (s: string, p: Paint, style: Style) =>
  style.color ? `\x1b[${codes[p][0]}m${s}\x1b[${codes[p][1]}m` : s;

// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC is exactly what an ANSI colour sequence starts with.
const ANSI = /\x1b\[[0-9;]*m/g;
export const visibleLength = (s: string) => s.replace(ANSI, '').length;

/** A plain table: header row, aligned columns, two spaces between them. */
export function table(headers: string[], rows: string[][], style: Style): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => visibleLength(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - visibleLength(c))))
      .join('  ')
      .trimEnd();
  return [paint(line(headers), 'bold', style), ...rows.map(line)].join('\n');
}

/** 40s, 2m05s, 1h02m, 3d04h. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  const d = Math.floor(h / 24);
  return `${d}d${String(h % 24).padStart(2, '0')}h`;
}

/** `5m ago`, `just now`, `in 2m` for future times. */
export function relativeTime(iso: string | undefined, now: number): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return iso;
  const diff = now - t;
  if (Math.abs(diff) < 2000) return 'just now';
  return diff > 0 ? `${formatDuration(diff)} ago` : `in ${formatDuration(-diff)}`;
}

/** The retry part of a badge: `retry in 40s`, `retrying now`, or why there is no retry. */
export function retryCountdown(
  nextRetry: string | null | undefined,
  now: number,
  opts: { quarantined?: boolean; permanent?: boolean } = {},
): string {
  if (nextRetry) {
    const t = Date.parse(nextRetry);
    if (Number.isFinite(t)) {
      const wait = t - now;
      const when = wait > 500 ? `retry in ${formatDuration(wait)}` : 'retrying now';
      return opts.quarantined ? `quarantined, ${when}` : when;
    }
  }
  if (opts.quarantined) return 'quarantined';
  return opts.permanent ? 'no retry (permanent)' : 'no retry scheduled';
}

export interface BadgeInput {
  type: string;
  retryCount: number;
  nextRetry: string | null;
  quarantined?: boolean;
  permanent?: boolean;
}

/** `ImagePullBackOff(3) retry in 40s`. */
export function errorBadge(e: BadgeInput, now: number, style: Style): string {
  const name = paint(`${e.type}(${e.retryCount})`, e.permanent || e.quarantined ? 'red' : 'yellow', style);
  return `${name} ${retryCountdown(e.nextRetry, now, e)}`;
}

export function healthLabel(h: string, style: Style): string {
  const p: Record<string, Paint> = { healthy: 'green', degraded: 'yellow', offline: 'red', unknown: 'dim' };
  return paint(h, p[h] ?? 'dim', style);
}

export function circuitLabel(
  c: { state: string; consecutiveFailures: number; retryAt?: string },
  now: number,
  style: Style,
): string {
  if (c.state === 'closed')
    return c.consecutiveFailures > 0
      ? paint(`closed (${c.consecutiveFailures} failed)`, 'yellow', style)
      : paint('closed', 'green', style);
  if (c.state === 'open')
    return paint(`open${c.retryAt ? `, probe ${relativeTime(c.retryAt, now)}` : ''}`, 'red', style);
  return paint(c.state, 'yellow', style);
}

export function statusLabel(s: string, style: Style): string {
  const p: Record<string, Paint> = {
    running: 'green',
    SUCCEEDED: 'green',
    starting: 'cyan',
    restarting: 'yellow',
    QUEUED: 'cyan',
    IN_PROGRESS: 'cyan',
    error: 'red',
    exited: 'red',
    quarantined: 'red',
    FAILED: 'red',
    TIMED_OUT: 'red',
    REJECTED: 'red',
    CANCELED: 'dim',
    'manually-stopped': 'magenta',
    stopped: 'dim',
  };
  return paint(s, p[s] ?? 'dim', style);
}

/** Event detail as `k=v` pairs, short enough for a table cell. */
export function compactDetail(detail: Record<string, unknown> | undefined, max = 80): string {
  if (!detail) return '';
  const parts = Object.entries(detail).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const s = parts.join(' ');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Parse `90s`, `15m`, `2h`, `1d`, `1h30m` into seconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text.trim());
  if (!m || text.trim() === '') return undefined;
  const [, d, h, min, s] = m;
  if (d === undefined && h === undefined && min === undefined && s === undefined) return undefined;
  return Number(d ?? 0) * 86400 + Number(h ?? 0) * 3600 + Number(min ?? 0) * 60 + Number(s ?? 0);
}
