/**
 * A Slack-compatible incoming-webhook receiver: the local fleet's stand-in for Slack.
 * It accepts what Slack accepts (`text` and/or Block Kit `blocks`, `attachments`), answers `ok` like Slack,
 * prints each alert readably to the terminal, and keeps what it received so tests can wait for it.
 * Tests can script answers (e.g. 500 then 200, or 429 with Retry-After) to exercise the forwarder's retries.
 *
 * Channels: each webhook path is a channel (`channelUrl('critical')` → `.../critical`), as each Slack incoming
 * webhook posts to its own channel; a message records the channel it arrived on and the terminal shows it. The
 * `pager` channel also takes what an HTTPS pager endpoint gets from SNS (a notification envelope: local/pager.ts).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackMessage {
  receivedAt: number;
  path: string;
  /** The last segment of the path: the channel this webhook posts to (`alerts` for the default url). */
  channel: string;
  payload: SlackPayload;
  /** The message rendered as plain text lines (no colour). */
  text: string;
  /** What the receiver answered (scripted failures are recorded too). */
  status: number;
}

export interface SlackPayload {
  text?: string;
  blocks?: SlackBlock[];
  attachments?: { color?: string; blocks?: SlackBlock[]; text?: string; fallback?: string }[];
  [k: string]: unknown;
}
interface TextObject {
  type?: string;
  text?: string;
}
interface SlackBlock {
  type: string;
  text?: TextObject;
  fields?: TextObject[];
  elements?: (TextObject & { url?: string; value?: string })[];
  [k: string]: unknown;
}

export interface ScriptedAnswer {
  status: number;
  /** Seconds, sent as Retry-After (Slack does this with 429). */
  retryAfter?: number;
  body?: string;
}

export interface SlackReceiverOptions {
  port?: number;
  host?: string;
  /** Where readable alerts go; `null` keeps quiet (tests). Default: stdout. */
  print?: ((line: string) => void) | null;
  color?: boolean;
}

export interface SlackReceiver {
  /** The default channel's webhook (`alerts`). */
  url: string;
  /** The webhook of another channel on this receiver (letters, digits, `-`). */
  channelUrl(channel: string): string;
  /** Every request, including the ones answered with a scripted failure. */
  readonly requests: SlackMessage[];
  /** Only the messages Slack would have shown (answered 200). */
  readonly messages: SlackMessage[];
  /** Queue answers for the next requests; after the script runs out, 200 ok. */
  script(...answers: ScriptedAnswer[]): void;
  waitFor(predicate: (m: SlackMessage) => boolean, timeoutMs?: number): Promise<SlackMessage>;
  close(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;
/** The channel that stands in for the pager's HTTPS endpoint (local/pager.ts posts there). */
export const PAGER_CHANNEL = 'pager';

export async function startSlackReceiver(opts: SlackReceiverOptions = {}): Promise<SlackReceiver> {
  const requests: SlackMessage[] = [];
  const messages: SlackMessage[] = [];
  const scripted: ScriptedAnswer[] = [];
  const waiters = new Set<() => void>();
  const print = opts.print === undefined ? (l: string) => process.stdout.write(`${l}\n`) : opts.print;
  const color = opts.color ?? (opts.print === undefined && process.stdout.isTTY);

  const server = createServer(async (req, res) => {
    const answer = (status: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
      res.end(body);
    };
    if (req.method !== 'POST') return answer(405, 'invalid_method');
    let raw: string;
    try {
      raw = await readBody(req);
    } catch {
      return answer(413, 'request_too_large');
    }
    let payload: SlackPayload;
    let page: string | undefined;
    try {
      // Slack also accepts form-encoded `payload=<json>`.
      const json = req.headers['content-type']?.includes('application/x-www-form-urlencoded')
        ? (new URLSearchParams(raw).get('payload') ?? '')
        : raw;
      payload = JSON.parse(json) as SlackPayload;
      if (!payload || typeof payload !== 'object') throw new Error('not an object');
      if (channelOf(req.url ?? '/') === PAGER_CHANNEL) page = snsNotificationText(payload);
    } catch {
      return answer(400, 'invalid_payload');
    }
    if (page === undefined && !payload.text && !payload.blocks?.length && !payload.attachments?.length)
      return answer(400, 'no_text');

    const next = scripted.shift();
    const status = next?.status ?? 200;
    const path = req.url ?? '/';
    const message: SlackMessage = {
      receivedAt: Date.now(),
      path,
      channel: channelOf(path),
      payload,
      text: page ?? renderSlackMessage(payload, false),
      status,
    };
    requests.push(message);
    if (status === 200) {
      messages.push(message);
      if (print) print(renderForTerminal(message, color));
    }
    for (const w of waiters) w();
    if (next)
      return answer(
        status,
        next.body ?? (status === 429 ? 'rate_limited' : status >= 500 ? 'internal_error' : 'ok'),
        next.retryAfter !== undefined ? { 'retry-after': String(next.retryAfter) } : {},
      );
    answer(200, 'ok');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const channelUrl = (channel: string) => {
    if (!/^[a-z0-9-]{1,80}$/i.test(channel)) throw new Error(`channel ${channel}: letters, digits and - only`);
    return `http://127.0.0.1:${port}/services/local/fleetmedic/${channel}`;
  };

  return {
    url: channelUrl('alerts'),
    channelUrl,
    requests,
    messages,
    script: (...answers) => void scripted.push(...answers),
    waitFor(predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = messages.find(predicate);
          if (!m) return false;
          cleanup();
          resolve(m);
          return true;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `no matching Slack message within ${timeoutMs} ms (received ${messages.length}: ${messages.map((m) => JSON.stringify(m.text.slice(0, 80))).join(', ')})`,
            ),
          );
        }, timeoutMs);
        const waiter = () => void check();
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(waiter);
        };
        waiters.add(waiter);
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function channelOf(path: string): string {
  const segments = path.split('?')[0]!.split('/').filter(Boolean);
  return segments.at(-1) ?? '';
}

/**
 * An SNS HTTP(S) notification (what a pager endpoint subscribed to the alert topic receives) as readable lines:
 * the subject, then the alert's summary and next action when the message is a fleetmedic alert event.
 * `undefined` when the body is not such a notification (then it must be a Slack payload).
 */
function snsNotificationText(body: Record<string, unknown>): string | undefined {
  if (body.Type !== 'Notification' || typeof body.Message !== 'string') return undefined;
  const lines = [`PAGE ${typeof body.Subject === 'string' ? body.Subject : '(no subject)'}`];
  try {
    const e = JSON.parse(body.Message) as { summary?: unknown; nextAction?: unknown; level?: unknown };
    if (typeof e.summary === 'string') lines.push(e.summary);
    if (typeof e.nextAction === 'string') lines.push(`Next: ${e.nextAction}`);
    if (typeof e.level === 'number') lines.push(`level ${e.level}`);
  } catch {
    lines.push(body.Message.slice(0, 500));
  }
  return lines.join('\n');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const EMOJI: Record<string, string> = {
  warning: '⚠️',
  rotating_light: '🚨',
  red_circle: '🔴',
  large_yellow_circle: '🟡',
  white_check_mark: '✅',
  information_source: 'ℹ️',
  fire: '🔥',
};

/** Slack mrkdwn → terminal text: links become `text (url)`, bold/italic markers become ANSI (or vanish). */
export function mrkdwn(s: string, color: boolean): string {
  let out = s
    // <!date^epoch^format|fallback>: Slack renders the date in the reader's zone; the fallback is close enough.
    .replace(/<!date\^\d+\^[^|>]*\|([^>]+)>/g, '$1')
    .replace(/:([a-z_]+):/g, (m, name: string) => EMOJI[name] ?? m)
    .replace(/<(https?:[^|>]+)\|([^>]+)>/g, '$2 ($1)')
    .replace(/<(https?:[^>]+)>/g, '$1')
    .replace(/<!(here|channel)>/g, '@$1');
  out = out.replace(/(^|\s)\*([^*\n]+)\*/g, (_, pre, t) => `${pre}${color ? `\x1b[1m${t}\x1b[22m` : t}`);
  out = out.replace(/(^|\s)_([^_\n]+)_/g, (_, pre, t) => `${pre}${color ? `\x1b[3m${t}\x1b[23m` : t}`);
  out = out.replace(/`([^`\n]+)`/g, (_, t) => (color ? `\x1b[36m${t}\x1b[39m` : t));
  return out.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

function renderBlocks(blocks: SlackBlock[], color: boolean): string[] {
  const lines: string[] = [];
  const t = (o?: TextObject) => (o?.text ? mrkdwn(o.text, color) : '');
  for (const b of blocks) {
    switch (b.type) {
      case 'header':
        lines.push(color ? `\x1b[1m${t(b.text)}\x1b[22m` : t(b.text));
        break;
      case 'section':
        if (b.text) lines.push(...t(b.text).split('\n'));
        for (const f of b.fields ?? [])
          lines.push(
            ...t(f)
              .split('\n')
              .map((l, i) => (i === 0 ? `  • ${l}` : `    ${l}`)),
          );
        break;
      case 'context':
        lines.push(
          (b.elements ?? [])
            .map((e) => t(e))
            .filter(Boolean)
            .map((l) => (color ? `\x1b[2m${l}\x1b[22m` : l))
            .join('  ·  '),
        );
        break;
      case 'divider':
        lines.push('─'.repeat(40));
        break;
      case 'actions':
        lines.push((b.elements ?? []).map((e) => `[${t(e.text as TextObject)}]${e.url ? ` ${e.url}` : ''}`).join(' '));
        break;
      default:
        if (b.text) lines.push(t(b.text));
    }
  }
  return lines;
}

/** A message as readable lines (used for the terminal and for tests' assertions). */
export function renderSlackMessage(p: SlackPayload, color: boolean): string {
  const lines: string[] = [];
  if (p.blocks?.length) lines.push(...renderBlocks(p.blocks, color));
  else if (p.text) lines.push(...mrkdwn(p.text, color).split('\n'));
  for (const a of p.attachments ?? []) {
    if (a.blocks?.length) lines.push(...renderBlocks(a.blocks, color));
    else if (a.text ?? a.fallback) lines.push(mrkdwn((a.text ?? a.fallback)!, color));
  }
  return lines.filter((l) => l !== undefined).join('\n');
}

function renderForTerminal(m: SlackMessage, color: boolean): string {
  const time = new Date(m.receivedAt).toISOString().slice(11, 19);
  const title = m.channel === PAGER_CHANNEL ? `── Pager ${time} ` : `── Slack alert #${m.channel} ${time} `;
  const bar = color
    ? `\x1b[35m${title}${'─'.repeat(Math.max(0, 60 - title.length))}\x1b[39m`
    : `${title}${'─'.repeat(Math.max(0, 60 - title.length))}`;
  const body = (
    (m.channel === PAGER_CHANNEL ? snsNotificationText(m.payload) : undefined) ?? renderSlackMessage(m.payload, color)
  )
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
  return `${bar}\n${body}`;
}
