/**
 * An alert event as plain text, for email subscribers of the alert topic: the same notification format as the
 * Slack message (slack-message.ts, beside it). Pure.
 */
import type { AlertEvent } from './event.js';

/** Plain text for email subscribers of the topic, in the shape of the notification format. */
export function plainTextAlert(e: AlertEvent, opts: { runbookBaseUrl?: string } = {}): string {
  const runbook =
    /^https?:\/\//.test(e.runbook) || !opts.runbookBaseUrl
      ? e.runbook
      : `${opts.runbookBaseUrl.replace(/\/+$/, '')}/${e.runbook}`;
  const lines = [
    `${e.status === 'resolved' ? 'RESOLVED' : e.severity} ${e.alertName}`,
    `Priority: ${e.severity} (level ${e.level})`,
    '',
    e.summary,
    '',
  ];
  if (e.deviceId) lines.push(`Device: ${e.deviceId}`);
  if (e.service) lines.push(`Service: ${e.service}`);
  lines.push(`Since: ${e.since}`);
  if (e.group)
    lines.push(`Affected: ${e.group.count} (sample: ${e.group.sample.map((m) => m.deviceId ?? m.service).join(', ')})`);
  if (e.tried.length) lines.push('Tried:', ...e.tried.map((t) => `  - ${t}`));
  if (e.status === 'firing') lines.push(`Action required: ${e.nextAction}`);
  if (e.suppressedCount) lines.push(`Suppressed duplicates: ${e.suppressedCount}`);
  lines.push(`Runbook: ${runbook}`, `Key: ${e.dedupeKey}`);
  if (e.correlationId) lines.push(`Correlation id: ${e.correlationId}`);
  return lines.join('\n');
}
