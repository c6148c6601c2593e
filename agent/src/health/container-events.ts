/**
 * Watches the engine's event stream for this agent's containers dying, so recovery reacts in milliseconds
 * instead of at the next health check or reconcile cycle (and notices services that have no health check).
 *
 * One long-lived HTTP stream, filtered on the engine side by type and our ownership labels. The action is
 * filtered here: Podman's compatibility API does not match `event=die` filters the way Docker does, but it
 * sends `die` events. The stream is re-opened with backoff when it ends (engine restart); a gap is harmless,
 * the health checks and the reconcile cycle still see everything.
 */
import type Docker from 'dockerode';
import { LABEL_AGENT, LABEL_OWNED, LABEL_SERVICE } from '../labels.js';

export interface ContainerEvent {
  action: string;
  containerId: string;
  service: string;
  exitCode?: number;
}

export interface ContainerEventsOptions {
  docker: Docker;
  agentId: string;
  onEvent: (e: ContainerEvent) => void;
  /** Actions passed on (default: die). */
  actions?: readonly string[];
  onError?: (err: Error) => void;
}

export class ContainerEvents {
  private stream: NodeJS.ReadableStream | null = null;
  private stopped = false;
  private retryMs = 500;
  private timer: NodeJS.Timeout | null = null;
  private opening = false;
  private readonly actions: Set<string>;

  constructor(private readonly opts: ContainerEventsOptions) {
    this.actions = new Set(opts.actions ?? ['die']);
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    (this.stream as unknown as { destroy?: () => void } | null)?.destroy?.();
    this.stream = null;
  }

  /** The engine is back after an outage: reconnect now instead of at the end of the backoff. */
  reconnectNow(): void {
    if (this.stopped || this.stream || this.opening) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.retryMs = 500;
    void this.open();
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    let stream: NodeJS.ReadableStream;
    this.opening = true;
    try {
      stream = (await this.opts.docker.getEvents({
        filters: JSON.stringify({
          type: ['container'],
          label: [`${LABEL_OWNED}=true`, `${LABEL_AGENT}=${this.opts.agentId}`],
        }),
      })) as NodeJS.ReadableStream;
    } catch (err) {
      this.opts.onError?.(err as Error);
      this.reopenLater();
      return;
    } finally {
      this.opening = false;
    }
    if (this.stopped) {
      (stream as unknown as { destroy?: () => void }).destroy?.();
      return;
    }
    this.stream = stream;
    this.retryMs = 500;
    // Idle for minutes is normal here: the connection's idle timeout (engine/docker.ts) must not cut it.
    (stream as { socket?: { setTimeout(ms: number): void } }).socket?.setTimeout(0);
    let buf = '';
    stream.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        this.line(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
      // Some engines do not end each event with a newline: a complete JSON object is an event too.
      if (buf.trim().endsWith('}')) {
        try {
          JSON.parse(buf);
          this.line(buf);
          buf = '';
        } catch {
          /* incomplete: wait for more */
        }
      }
    });
    const ended = () => {
      if (this.stream === stream) this.stream = null;
      this.reopenLater();
    };
    stream.once('end', ended);
    stream.once('error', (err: Error) => {
      this.opts.onError?.(err);
      ended();
    });
  }

  private reopenLater(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.open();
    }, this.retryMs);
    this.timer.unref();
    this.retryMs = Math.min(this.retryMs * 2, 30_000);
  }

  private line(text: string): void {
    const t = text.trim();
    if (!t) return;
    let e: {
      Action?: string;
      status?: string;
      Type?: string;
      id?: string;
      Actor?: { ID?: string; Attributes?: Record<string, string> };
    };
    try {
      e = JSON.parse(t);
    } catch {
      return;
    }
    const action = e.Action ?? e.status ?? '';
    if (!this.actions.has(action)) return;
    const attrs = e.Actor?.Attributes ?? {};
    if (attrs[LABEL_AGENT] !== undefined && attrs[LABEL_AGENT] !== this.opts.agentId) return;
    const service = attrs[LABEL_SERVICE];
    const containerId = e.Actor?.ID ?? e.id;
    if (!service || !containerId) return;
    const code = Number(attrs.exitCode ?? attrs.containerExitCode);
    this.opts.onEvent({ action, containerId, service, ...(Number.isFinite(code) ? { exitCode: code } : {}) });
  }
}
