/**
 * Dead letters as operators see them: a reason, a normalised failure pattern (so 300 "job job_01H... not found"
 * collapse into one group), grouping, filtering and redrive pacing. Pure: the SQS adapter turns queue messages into
 * `DeadLetterInput`s, this file decides what they mean.
 */

/** What the DLQ adapter reads off one message (attributes are SQS message attributes, already as strings). */
export interface DeadLetterInput {
  messageId: string;
  body: string | undefined;
  attributes: Record<string, string | undefined>;
  /** SQS system attribute ApproximateReceiveCount of the DLQ copy (grows with every listing). */
  dlqReceiveCount?: number;
  /** SQS system attribute SentTimestamp (epoch ms) of the DLQ copy. */
  sentTimestamp?: number;
}

export interface DeadLetter {
  messageId: string;
  jobId?: string;
  deviceId?: string;
  reason: string;
  pattern: string;
  receiveCount: number;
  firstFailedAt?: string;
}

export interface DeadLetterGroup {
  pattern: string;
  count: number;
  sample: DeadLetter;
}

/**
 * Message attributes the dispatcher sets when it dead-letters a message itself (so the reason travels with it).
 * A message SQS moved on its own (the consumer crashed or timed out on every receive) has none of these.
 */
export const DLQ_ATTR = {
  reason: 'failureReason',
  receiveCount: 'failureReceiveCount',
  failedAt: 'failedAt',
  sourceQueue: 'sourceQueue',
} as const;

export const UNRECORDED_REASON =
  'exceeded maxReceiveCount without a recorded reason (the consumer crashed or timed out)';

const MAX_PATTERN = 200;

/**
 * Normalise a failure reason into a pattern: variable parts (ids, numbers, times, quoted values, URLs) become
 * placeholders, so failures that differ only in which job or device they hit group together.
 */
export function failurePattern(reason: string): string {
  const p = reason
    .replace(/https?:\/\/\S+/g, '<url>')
    .replace(/arn:aws[\w-]*:[^\s"',]+/g, '<arn>')
    .replace(/\b\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})?/g, '<time>')
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>')
    .replace(/\b(job|evt)_[A-Za-z0-9]{10,40}\b/g, '<$1>')
    .replace(/"[^"]*"|'[^']*'/g, '<str>')
    .replace(/\b[0-9a-f]{16,}\b/gi, '<hex>')
    .replace(/\d+(\.\d+)?/g, '<n>')
    .replace(/\s+/g, ' ')
    .trim();
  return p.length > MAX_PATTERN ? `${p.slice(0, MAX_PATTERN - 1)}…` : p || '<empty>';
}

function tryJson(body: string | undefined): Record<string, unknown> | undefined {
  if (!body) return undefined;
  try {
    const v: unknown = JSON.parse(body);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);

export function toDeadLetter(m: DeadLetterInput): DeadLetter {
  const body = tryJson(m.body);
  const reason = str(m.attributes[DLQ_ATTR.reason]) ?? UNRECORDED_REASON;
  const recorded = Number(m.attributes[DLQ_ATTR.receiveCount]);
  const firstFailedAt =
    str(m.attributes[DLQ_ATTR.failedAt]) ??
    (m.sentTimestamp !== undefined && Number.isFinite(m.sentTimestamp)
      ? new Date(m.sentTimestamp).toISOString()
      : undefined);
  return {
    messageId: m.messageId,
    ...(str(body?.jobId) ? { jobId: str(body?.jobId) } : {}),
    ...(str(body?.deviceId) ? { deviceId: str(body?.deviceId) } : {}),
    reason,
    pattern: failurePattern(reason),
    // The count on the source queue when it was dead-lettered. For a message SQS moved on its own only the DLQ
    // copy's approximate count is known (it grows with every listing), reported as is.
    receiveCount: Number.isFinite(recorded) && recorded > 0 ? recorded : (m.dlqReceiveCount ?? 0),
    ...(firstFailedAt ? { firstFailedAt } : {}),
  };
}

/** Groups by pattern, biggest group first (ties: alphabetical, so output is stable). */
export function groupDeadLetters(letters: readonly DeadLetter[]): DeadLetterGroup[] {
  const groups = new Map<string, DeadLetterGroup>();
  for (const l of letters) {
    const g = groups.get(l.pattern);
    if (g) g.count++;
    else groups.set(l.pattern, { pattern: l.pattern, count: 1, sample: l });
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || a.pattern.localeCompare(b.pattern));
}

/** Redrive filter: case-insensitive substring of the pattern, the reason, the job id or the device id. */
export function matchesFilter(l: DeadLetter, filter: string | undefined): boolean {
  if (!filter) return true;
  const f = filter.toLowerCase();
  return [l.pattern, l.reason, l.jobId, l.deviceId].some((s) => s?.toLowerCase().includes(f));
}

/**
 * Rate limiting for redrive: the earliest time the (sent+1)-th message may go, given the rate.
 * Spacing from the start (not from the previous send) keeps the average rate exact even when sends are slow.
 */
export function nextSendAt(startedAt: number, sent: number, ratePerSecond: number): number {
  return startedAt + Math.floor((sent * 1000) / Math.max(1, ratePerSecond));
}

/** Attributes to strip when a message goes back to its source queue (it should look like a fresh job message). */
export const FAILURE_ATTRIBUTES: readonly string[] = Object.values(DLQ_ATTR);
