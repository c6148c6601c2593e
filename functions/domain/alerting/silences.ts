/**
 * Silences: Alertmanager-style matchers on an alert's labels (device, service, alert name) with a start and an end.
 * An alert every matcher of an active silence matches is not published (docs/runbook.md "Silences"); unlike a marker
 * (manual-stop / maintenance), a silence stops only the notification, never the automatic recovery.
 * Part of the alert policy (functions/domain/alerting/). Pure: no AWS, `now` (epoch ms) is an argument.
 */
import type { AlertName } from './catalogue.js';

export const SILENCE_LABELS = ['deviceId', 'service', 'alertName'] as const;
export type SilenceLabel = (typeof SILENCE_LABELS)[number];
/** `=` equal, `!=` not equal, `=~` regex match, `!~` regex non-match (regexes are anchored at both ends). */
export type MatchOp = '=' | '!=' | '=~' | '!~';
export interface Matcher {
  name: SilenceLabel;
  op: MatchOp;
  value: string;
}

export interface Silence {
  silenceId: string;
  matchers: Matcher[];
  /** epoch ms */
  startsAt: number;
  endsAt: number;
  comment: string;
  createdBy: string;
  createdAt: number;
}

export interface AlertLabels {
  alertName: AlertName;
  deviceId?: string;
  service?: string;
}

/** A regex matcher's pattern as Alertmanager anchors it; undefined when it does not compile. */
export function anchoredRegex(pattern: string): RegExp | undefined {
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch {
    return undefined;
  }
}

/** An absent label matches as the empty string (as in Alertmanager: `service=""` matches device-wide alerts). */
export function matcherMatches(m: Matcher, labels: AlertLabels): boolean {
  const value = labels[m.name] ?? '';
  switch (m.op) {
    case '=':
      return value === m.value;
    case '!=':
      return value !== m.value;
    case '=~':
      return anchoredRegex(m.value)?.test(value) ?? false;
    case '!~':
      return !(anchoredRegex(m.value)?.test(value) ?? true);
  }
}

export const isActive = (s: Silence, now: number) => s.startsAt <= now && now < s.endsAt;

/** The first active silence whose every matcher matches the alert, if any. */
export function silencing(silences: readonly Silence[], labels: AlertLabels, now: number): Silence | undefined {
  return silences.find((s) => isActive(s, now) && s.matchers.every((m) => matcherMatches(m, labels)));
}

/**
 * Why a set of matchers may not make a silence, or undefined when it may: a silence must name what it silences
 * (at least one matcher that does not match an empty label, as Alertmanager requires), and its regexes must compile.
 */
export function matcherProblem(matchers: readonly Matcher[]): string | undefined {
  for (const m of matchers)
    if ((m.op === '=~' || m.op === '!~') && !anchoredRegex(m.value))
      return `${m.name}${m.op}${m.value}: not a valid regex`;
  const empty: AlertLabels = { alertName: '' as AlertName };
  if (matchers.every((m) => matcherMatches(m, empty)))
    return 'at least one matcher must not match an empty value (a silence may not silence everything)';
  return undefined;
}
