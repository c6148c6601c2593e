/**
 * The push channel's device end (docs/architecture.md "Push channel"): one WebSocket to the cloud's WebSocket API,
 * over which the cloud says "sync now" when a job or a target is waiting. It only makes the device faster: the
 * link keeps syncing at the server's interval whether or not this socket is up, so losing it never leaves the
 * device blind, and a notification carries no command (the sync fetches it, authenticated as always).
 *
 * - Connects with the device token (`Authorization: Bearer`, re-read at each connect: a rotated token is used).
 * - On every (re)connect and every notification: `onSync` (a sync at once; notifications missed while the socket
 *   was down are caught by the sync on connect).
 * - API Gateway closes a connection after 10 idle minutes and after 2 hours. The agent pings (`{"action":"ping"}`)
 *   every `pingMs` (below the idle limit; a ping unanswered within `pongTimeoutMs` means a dead connection: it is
 *   cut and replaced) and replaces the connection itself before `maxConnectionMs` (below the 2-hour limit, minus
 *   up to 10 % jitter so a fleet that connected together does not reconnect together). Such a replacement closes
 *   with 4000 ("reconnecting"); stopping the agent closes with 1000, which the cloud takes as the device leaving.
 * - Lost or refused connections are retried with full-jitter exponential backoff: attempt n waits a random time
 *   in [0, min(backoffMaxMs, backoffBaseMs × 2^n)], so a fleet reconnecting after a cloud outage spreads out.
 */
import type WebSocketType from 'ws';
import { CLOSE_CODES, PushServerFrame, type PushReason } from '#contract/push.js';
import type { LinkLog } from './link.js';

export interface PushChannelConfig {
  /** wss:// URL of the WebSocket API stage (the stack's PushUrl output; locally `npm start` prints it). */
  url: string;
  /** Replace the connection after this long (API Gateway closes it at 2 h). Default 110 min. */
  maxConnectionMs: number;
  /** Ping after this long without one (API Gateway closes a connection idle for 10 min). Default 5 min. */
  pingMs: number;
  /** A ping unanswered this long: the connection is dead. Default 30 s. */
  pongTimeoutMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Handshake timeout. Default 10 s. */
  connectTimeoutMs: number;
}

export const DEFAULT_PUSH_TIMING: Omit<PushChannelConfig, 'url'> = {
  maxConnectionMs: 110 * 60_000,
  pingMs: 5 * 60_000,
  pongTimeoutMs: 30_000,
  backoffBaseMs: 30_000,
  backoffMaxMs: 300_000,
  connectTimeoutMs: 10_000,
};

export interface PushChannelOptions {
  config: PushChannelConfig;
  token: () => string;
  /** Sync now (a notification arrived, or the socket just (re)connected). */
  onSync: (why: PushReason | 'connected') => void;
  log: LinkLog;
  random?: () => number;
}

export class PushChannel {
  readonly stats = { connects: 0, notifications: 0, replaced: 0, lost: 0, refused: 0, pings: 0, lastError: '' };
  private ws: WebSocketType | null = null;
  private WebSocketImpl: typeof WebSocketType | undefined;
  private stopped = true;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private lifetimeTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private pongTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: PushChannelOptions) {}

  get connected(): boolean {
    return this.ws?.readyState === 1;
  }

  async start(): Promise<void> {
    // Loaded only when the channel is configured: an agent without it does not pay for the module.
    this.WebSocketImpl ??= (await import('ws')).default;
    this.stopped = false;
    this.connect();
  }

  /** Close for good (1000: the device is going away). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const ws = this.ws;
    if (!ws) return;
    this.clearConnectionTimers();
    if (ws.readyState === 1 || ws.readyState === 0) {
      const closed = new Promise<void>((r) => ws.once('close', () => r()));
      if (ws.readyState === 1) ws.close(CLOSE_CODES.stopping, 'agent stopping');
      else ws.terminate();
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2000).unref())]);
      ws.terminate();
    }
    this.ws = null;
  }

  private connect(): void {
    if (this.stopped) return;
    const random = this.opts.random ?? Math.random;
    const { config } = this.opts;
    let token: string;
    try {
      token = this.opts.token();
    } catch (err) {
      this.stats.lastError = `cannot read the device token: ${(err as Error).message}`;
      this.scheduleRetry();
      return;
    }
    // No permessage-deflate: API Gateway does not negotiate it, and its zlib contexts would cost idle memory for
    // frames of a few dozen bytes.
    const ws = new this.WebSocketImpl!(config.url, {
      headers: { authorization: `Bearer ${token}` },
      handshakeTimeout: config.connectTimeoutMs,
      perMessageDeflate: false,
    });
    this.ws = ws;
    let opened = false;
    ws.on('open', () => {
      opened = true;
      this.attempt = 0;
      this.stats.connects++;
      this.opts.log.info({ connects: this.stats.connects }, 'push channel connected');
      const lifetime = config.maxConnectionMs * (1 - 0.1 * random());
      this.lifetimeTimer = setTimeout(() => this.replace(ws), lifetime);
      this.lifetimeTimer.unref();
      this.armPing(ws);
      this.opts.onSync('connected');
    });
    ws.on('message', (data) => this.onFrame(ws, String(data)));
    ws.on('unexpected-response', (_req, res) => {
      this.stats.refused++;
      this.stats.lastError = `push channel refused the connection: HTTP ${res.statusCode}`;
      if (res.statusCode === 401 || res.statusCode === 403)
        this.opts.log.warn({ status: res.statusCode }, 'push channel refused the device token; polling continues');
      ws.terminate();
    });
    ws.on('error', (err) => {
      this.stats.lastError = err.message;
    });
    ws.on('close', (code) => {
      if (this.ws === ws) this.ws = null;
      this.clearConnectionTimers();
      if (this.stopped) return;
      if (code === CLOSE_CODES.reconnecting) return; // replace() already opened the next one
      if (opened) {
        this.stats.lost++;
        this.opts.log.info(
          { code, error: this.stats.lastError || undefined },
          'push channel lost; reconnecting with backoff (polling continues)',
        );
      }
      this.scheduleRetry();
    });
  }

  private onFrame(ws: WebSocketType, text: string): void {
    let frame: PushServerFrame;
    try {
      const parsed = PushServerFrame.safeParse(JSON.parse(text));
      if (!parsed.success) return; // a frame this agent does not know (a newer cloud, a gateway message)
      frame = parsed.data;
    } catch {
      return;
    }
    if (frame.type === 'pong') {
      if (this.pongTimer) clearTimeout(this.pongTimer);
      this.pongTimer = null;
      return;
    }
    if (frame.type === 'error') {
      this.opts.log.warn({ message: frame.message }, 'push channel refused a message');
      return;
    }
    this.stats.notifications++;
    this.opts.log.debug({ reason: frame.reason }, 'push: sync now');
    this.opts.onSync(frame.reason);
    void ws;
  }

  /** Before API Gateway's lifetime limit: close this one (4000) and open the next at once. */
  private replace(ws: WebSocketType): void {
    if (this.stopped || this.ws !== ws) return;
    this.stats.replaced++;
    this.clearConnectionTimers();
    ws.close(CLOSE_CODES.reconnecting, 'reconnecting');
    setTimeout(() => ws.terminate(), 2000).unref();
    this.ws = null;
    this.connect();
  }

  private armPing(ws: WebSocketType): void {
    this.pingTimer = setInterval(() => {
      if (ws.readyState !== 1) return;
      this.stats.pings++;
      ws.send(JSON.stringify({ action: 'ping' }));
      if (!this.pongTimer) {
        this.pongTimer = setTimeout(() => {
          this.pongTimer = null;
          this.stats.lastError = 'no pong: connection dead';
          ws.terminate(); // 'close' schedules the retry
        }, this.opts.config.pongTimeoutMs);
        this.pongTimer.unref();
      }
    }, this.opts.config.pingMs);
    this.pingTimer.unref();
  }

  private clearConnectionTimers(): void {
    for (const t of [this.lifetimeTimer, this.pongTimer]) if (t) clearTimeout(t);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.lifetimeTimer = this.pingTimer = this.pongTimer = null;
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    const { backoffBaseMs, backoffMaxMs } = this.opts.config;
    const delay =
      (this.opts.random ?? Math.random)() * Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.min(this.attempt, 20));
    this.attempt++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
    this.retryTimer.unref();
  }
}
