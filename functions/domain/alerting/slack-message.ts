/**
 * Renders an AlertEvent as a Slack incoming-webhook payload (Block Kit inside a coloured attachment).
 * Pure. Slack limits respected: header ≤ 150 chars, section text ≤ 3000, ≤ 10 fields of ≤ 2000, ≤ 50 blocks.
 * Layout follows the notification format: title, severity, what failed, what was tried, next action,
 * where to read more.
 *
 * The title is said once: as the message's own header block. Slack shows a message's top-level `text` as its
 * body unless the message has top-level blocks, and then uses `text` only for notifications and screen
 * readers; so the header sits at the top level and the details in a coloured attachment below it.
 */
import type { Severity } from './catalogue.js';
import type { AlertEvent } from './event.js';
import { formatDuration } from './format.js';

export interface SlackText {
  type: 'plain_text' | 'mrkdwn';
  text: string;
  emoji?: boolean;
}
export type SlackBlock =
  | { type: 'header'; text: SlackText }
  | { type: 'section'; text?: SlackText; fields?: SlackText[] }
  | { type: 'context'; elements: SlackText[] }
  | { type: 'divider' }
  | { type: 'actions'; elements: { type: 'button'; text: SlackText; url: string; action_id: string }[] };

export interface SlackPayload {
  /** Notification / fallback text (what screen readers and mobile pushes show; not shown with the blocks). */
  text: string;
  /** The header: the title, once. */
  blocks: SlackBlock[];
  attachments: { color: string; fallback: string; blocks: SlackBlock[] }[];
}

const COLOR: Record<Severity | 'resolved', string> = {
  CRITICAL: '#d00000',
  WARNING: '#f2c744',
  INFO: '#439fe0',
  resolved: '#2eb886',
};
const ICON: Record<Severity | 'resolved', string> = {
  CRITICAL: ':rotating_light:',
  WARNING: ':warning:',
  INFO: ':information_source:',
  resolved: ':white_check_mark:',
};
const LEVEL_TEXT: Record<1 | 2 | 3, string> = {
  1: 'level 1 · automated recovery',
  2: 'level 2 · manual intervention',
  3: 'level 3 · engineering escalation',
};

/** Slack mrkdwn control characters; everything we did not write ourselves is escaped. */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

const md = (text: string, max = 3000): SlackText => ({ type: 'mrkdwn', text: clip(text, max) });

export function renderSlackMessage(e: AlertEvent, opts: { runbookBaseUrl?: string } = {}): SlackPayload {
  const resolved = e.status === 'resolved';
  const tone = resolved ? 'resolved' : e.severity;
  const where = [e.service, e.deviceId].filter(Boolean).join(' on ');
  const titleCore = resolved ? `RESOLVED ${e.alertName}` : `${e.severity} ${e.alertName}`;
  const title = clip(
    `${titleCore}${e.group && e.group.count > 1 ? ` ×${e.group.count}` : where ? ` · ${where}` : ''}`,
    150,
  );
  const fallback = clip(`${titleCore}: ${e.summary}`, 3000);

  const fields: SlackText[] = [];
  if (e.deviceId) fields.push(md(`*Device*\n\`${escapeMrkdwn(e.deviceId)}\``, 2000));
  if (e.service) fields.push(md(`*Service*\n\`${escapeMrkdwn(e.service)}\``, 2000));
  fields.push(
    md(
      `*Since*\n<!date^${Math.floor(Date.parse(e.since) / 1000)}^{date_short_pretty} {time}|${e.since}> (${formatDuration(Date.parse(e.raisedAt) - Date.parse(e.since))})`,
      2000,
    ),
  );
  fields.push(md(`*Escalation*\n${LEVEL_TEXT[e.level]}`, 2000));
  if (e.group) fields.push(md(`*Affected*\n${e.group.count}`, 2000));
  if (e.suppressedCount > 0) fields.push(md(`*Suppressed duplicates*\n${e.suppressedCount}`, 2000));

  const header: SlackBlock = {
    type: 'header',
    text: { type: 'plain_text', text: `${ICON[tone]} ${title}`.slice(0, 150), emoji: true },
  };
  const blocks: SlackBlock[] = [
    { type: 'section', text: md(`${e.repeat ? '_Still failing._ ' : ''}${escapeMrkdwn(e.summary)}`) },
    { type: 'section', fields: fields.slice(0, 10) },
  ];

  if (e.group && e.group.sample.length > 0) {
    const lines = e.group.sample.map(
      (m) =>
        `• \`${escapeMrkdwn(m.deviceId ?? m.service ?? '?')}\`${m.service && m.deviceId ? ` / ${escapeMrkdwn(m.service)}` : ''} since ${m.since}`,
    );
    const more = e.group.count > e.group.sample.length ? `\n…and ${e.group.count - e.group.sample.length} more` : '';
    blocks.push({
      type: 'section',
      text: md(`*Sample (${e.group.sample.length} of ${e.group.count})*\n${lines.join('\n')}${more}`),
    });
  }
  if (!resolved && e.tried.length > 0) {
    blocks.push({
      type: 'section',
      text: md(`*Already tried*\n${e.tried.map((t) => `• ${escapeMrkdwn(t)}`).join('\n')}`),
    });
  }
  if (!resolved) blocks.push({ type: 'section', text: md(`*Next action*\n${escapeMrkdwn(e.nextAction)}`) });

  const runbookUrl = absoluteRunbook(e.runbook, opts.runbookBaseUrl);
  if (runbookUrl) {
    blocks.push({
      type: 'actions',
      elements: [
        { type: 'button', text: { type: 'plain_text', text: 'Runbook' }, url: runbookUrl, action_id: 'runbook' },
      ],
    });
  }
  const context = [`key \`${escapeMrkdwn(e.dedupeKey)}\``, `runbook ${escapeMrkdwn(e.runbook)}`];
  if (e.correlationId) context.push(`correlation \`${escapeMrkdwn(e.correlationId)}\``);
  blocks.push({ type: 'context', elements: [md(context.join(' · '), 2000)] });

  return { text: fallback, blocks: [header], attachments: [{ color: COLOR[tone], fallback, blocks }] };
}

function absoluteRunbook(runbook: string, base: string | undefined): string | undefined {
  if (/^https?:\/\//.test(runbook)) return runbook;
  if (!base) return undefined;
  return `${base.replace(/\/+$/, '')}/${runbook.replace(/^\/+/, '')}`;
}
