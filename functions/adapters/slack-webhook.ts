/**
 * The Slack incoming webhooks: each URL comes from Secrets Manager (or SSM SecureString with `ssm:/name`), never
 * from a plain environment variable, and posting retries 429/5xx honouring Retry-After within a deadline.
 * One webhook per channel (domain/alerting/slack-channel.ts): the default one (SLACK_WEBHOOK_SECRET_ID), and
 * optionally the critical and warning channels' own (SLACK_WEBHOOK_CRITICAL_SECRET_ID,
 * SLACK_WEBHOOK_WARNING_SECRET_ID); a channel without its own secret uses the default webhook.
 * A URL is a credential: it is never logged nor traced (the X-Ray subsegment names the host only), and errors
 * name the secret id, not the value.
 */
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { SlackChannel } from '../domain/alerting/slack-channel.js';
import { config } from '../lib/config.js';
import { traceHttpCall, tracer } from '../lib/observability.js';
import { forgetSecret, getSecretString, resetSecretCache } from './common/secrets.js';

/**
 * A webhook secret is missing, empty, or not a usable webhook URL: nothing for its channel can be delivered until
 * it is fixed. `secretId` names the secret to fix (never its value).
 */
export class WebhookConfigError extends Error {
  constructor(
    message: string,
    public readonly secretId?: string,
  ) {
    super(message);
    this.name = 'WebhookConfigError';
  }
}

/** Slack refused the payload itself (400): retrying the same message can never succeed. */
export class SlackPayloadRejected extends Error {
  constructor(
    public readonly status: number,
    public readonly slackError: string,
  ) {
    super(`Slack rejected the message: ${status} ${slackError}`);
    this.name = 'SlackPayloadRejected';
  }
}

/** Slack kept failing (5xx/429/network) until the deadline: the message should come back later. */
export class SlackUnavailable extends Error {
  constructor(
    message: string,
    public readonly retryAfterSeconds: number,
    public readonly attempts: number,
  ) {
    super(message);
    this.name = 'SlackUnavailable';
  }
}

let ssm: SSMClient | undefined;
/** Per secret id: each channel's webhook is read once per URL_CACHE_MS, whichever channel shares it. */
const cached = new Map<string, { url: URL; until: number }>();
/** Re-read the secret now and then so a rotated webhook is picked up without a redeploy. */
const URL_CACHE_MS = 5 * 60_000;

async function readSecretValue(secretId: string): Promise<string> {
  if (secretId.startsWith('ssm:')) {
    const name = secretId.slice('ssm:'.length);
    ssm ??= tracer.captureAWSv3Client(
      new SSMClient({ requestHandler: { requestTimeout: 3000, connectionTimeout: 1000 } }),
    );
    const res = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
    const v = res.Parameter?.Value;
    if (!v) throw new Error(`SSM parameter ${name} has no value`);
    return v;
  }
  return getSecretString(secretId);
}

/** Accepts the bare URL or JSON `{"url": "..."}` / `{"webhookUrl": "..."}` (how people store it in practice). */
export function parseWebhookSecret(value: string, secretId: string): URL {
  let candidate = value.trim();
  if (candidate.startsWith('{')) {
    try {
      const obj = JSON.parse(candidate) as Record<string, unknown>;
      const v = obj.url ?? obj.webhookUrl ?? obj.webhook_url;
      candidate = typeof v === 'string' ? v.trim() : '';
    } catch {
      throw new WebhookConfigError(`Slack webhook secret ${secretId} looks like JSON but does not parse`, secretId);
    }
  }
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    throw new WebhookConfigError(
      `Slack webhook secret ${secretId} is not a URL (expected https://hooks.slack.com/services/...)`,
      secretId,
    );
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  // Plain http only for the local fleet's receiver on this machine; anything remote must be TLS.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new WebhookConfigError(
      `Slack webhook secret ${secretId} must be an https URL (http only for a loopback receiver)`,
      secretId,
    );
  }
  return url;
}

export interface Webhook {
  url: URL;
  /** The secret it came from: what errors and logs name. */
  secretId: string;
  /** The channel whose webhook this is: `default` when the asked-for channel has none of its own. */
  channel: SlackChannel;
}

/** The secret id of a channel's own webhook, if one is configured. */
function ownSecretId(channel: SlackChannel): string | undefined {
  if (channel === 'critical') return config.slackCriticalWebhookSecretId;
  if (channel === 'warning') return config.slackWarningWebhookSecretId;
  return undefined;
}

/**
 * The webhook of `channel` (its own secret, else the default one), or a WebhookConfigError that says exactly what
 * to fix. A configured channel secret that cannot be read is an error, not a fallback: posting a page to the
 * default channel instead would hide the broken configuration.
 */
export async function resolveWebhook(channel: SlackChannel = 'default', now = Date.now()): Promise<Webhook> {
  let secretId = ownSecretId(channel);
  const used: SlackChannel = secretId ? channel : 'default';
  if (!secretId) {
    try {
      secretId = config.slackWebhookSecretId;
    } catch (err) {
      throw new WebhookConfigError(
        `${(err as Error).message} (the Slack webhook URL must come from Secrets Manager or ssm:/name, never a plain variable)`,
      );
    }
  }
  const hit = cached.get(secretId);
  if (hit && now < hit.until) return { url: hit.url, secretId, channel: used };
  let value: string;
  try {
    value = await readSecretValue(secretId);
  } catch (err) {
    const e = err as { name?: string; message?: string };
    throw new WebhookConfigError(
      `Slack webhook secret ${secretId} could not be read: ${e.name ?? 'Error'}: ${e.message ?? ''}`.trim() +
        (used === 'default' ? '' : ` (the ${used} channel's webhook)`),
      secretId,
    );
  }
  const url = parseWebhookSecret(value, secretId);
  cached.set(secretId, { url, until: now + URL_CACHE_MS });
  return { url, secretId, channel: used };
}

/** The webhook URL of `channel` (see resolveWebhook). */
export async function resolveWebhookUrl(channel: SlackChannel = 'default', now = Date.now()): Promise<URL> {
  return (await resolveWebhook(channel, now)).url;
}

/**
 * Forget cached URLs (a test rotated a secret): all of them, or only `secretId`'s (Slack said that webhook is
 * gone, so the next delivery re-reads it and a fixed secret is picked up).
 */
export function resetWebhookCache(secretId?: string): void {
  if (secretId === undefined) {
    cached.clear();
    resetSecretCache();
    return;
  }
  cached.delete(secretId);
  forgetSecret(secretId);
}

export interface PostOptions {
  /** Epoch ms after which no further attempt starts (the Lambda's remaining time minus a margin). */
  deadline: number;
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  requestTimeoutMs?: number;
  /** The secret the URL came from: named in errors (the URL never is). */
  secretId?: string;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface PostResult {
  attempts: number;
  status: number;
}

/** Retry-After is seconds or an HTTP date. */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const secs = Number(header);
  if (Number.isFinite(secs) && secs >= 0) return secs;
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, (at - now) / 1000) : undefined;
}

/**
 * POST a payload to the webhook. 2xx: done. 429: wait Retry-After. 5xx / network error / timeout: exponential
 * back-off with full jitter. Stops when the next wait would pass the deadline (SlackUnavailable, carrying when to
 * try again). 400/403/404/410 are not retried here: a bad payload (SlackPayloadRejected) or a dead webhook
 * (WebhookConfigError; the URL cache is dropped so a fixed secret is picked up).
 */
export async function postToSlack(url: URL, payload: unknown, opts: PostOptions): Promise<PostResult> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const maxAttempts = opts.maxAttempts ?? 6;
  const base = opts.baseDelayMs ?? 250;
  const cap = opts.maxDelayMs ?? 8000;
  const body = JSON.stringify(payload);
  let lastProblem = '';
  let retryAfter = 0;
  for (let attempt = 1; ; attempt++) {
    let waitMs: number;
    try {
      const res = await traceHttpCall(url, 'POST', () =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json; charset=utf-8' },
          body,
          signal: AbortSignal.timeout(opts.requestTimeoutMs ?? 5000),
        }),
      );
      const text = await res.text().catch(() => '');
      if (res.ok) return { attempts: attempt, status: res.status };
      if (res.status === 429) {
        retryAfter = parseRetryAfter(res.headers.get('retry-after'), now()) ?? 1;
        waitMs = retryAfter * 1000;
        lastProblem = `429 rate limited (Retry-After ${retryAfter}s)`;
      } else if (res.status >= 500) {
        waitMs = Math.random() * Math.min(cap, base * 2 ** (attempt - 1));
        retryAfter = Math.ceil(Math.min(cap, base * 2 ** attempt) / 1000);
        lastProblem = `${res.status} ${text.slice(0, 100)}`;
      } else if (res.status === 403 || res.status === 404 || res.status === 410) {
        resetWebhookCache(opts.secretId);
        const where = opts.secretId ? `secret ${opts.secretId}` : 'SLACK_WEBHOOK_SECRET_ID';
        throw new WebhookConfigError(
          `Slack answered ${res.status} ${text.slice(0, 100)}: the webhook in ${where} is revoked, wrong, or its channel is gone`,
          opts.secretId,
        );
      } else {
        throw new SlackPayloadRejected(res.status, text.slice(0, 200));
      }
    } catch (err) {
      if (err instanceof WebhookConfigError || err instanceof SlackPayloadRejected) throw err;
      waitMs = Math.random() * Math.min(cap, base * 2 ** (attempt - 1));
      retryAfter = Math.ceil(Math.min(cap, base * 2 ** attempt) / 1000);
      lastProblem = `network: ${(err as Error).name}: ${(err as Error).message}`;
    }
    if (attempt >= maxAttempts || now() + waitMs > opts.deadline) {
      throw new SlackUnavailable(
        `Slack unavailable after ${attempt} attempt(s): ${lastProblem}`,
        Math.max(1, Math.ceil(retryAfter)),
        attempt,
      );
    }
    await sleep(waitMs);
  }
}
