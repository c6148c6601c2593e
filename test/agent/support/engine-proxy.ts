/**
 * A socket proxy in front of the engine that a test owns: it forwards byte for byte until the test cuts it.
 * - `gone()`: the socket file disappears (clients get ENOENT) and every open connection is dropped;
 * - `refusing()`: the socket is there but every connection is closed at once (ECONNRESET / socket hang up),
 *   and counted, so a test can wait until the agent has really tried the engine during the outage;
 * - `forward()`: back to normal;
 * - `delayMs`: a busy engine: every request (each chunk the client sends, in order) reaches the engine this
 *   much later; connections are reused by the client, so delaying only new connections would not do.
 * Nothing here waits on the engine: every method returns as soon as the local socket is in the new state.
 */
import { rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';

type Mode = 'forward' | 'refusing';

export class EngineProxy {
  /** Connections closed unanswered while refusing. */
  refused = 0;
  /** Connections forwarded. */
  forwarded = 0;
  /** Added to everything a client sends before it is forwarded (a slow engine). */
  delayMs = 0;
  private server: Server | null = null;
  private mode: Mode = 'forward';
  private readonly open = new Set<Socket>();

  constructor(
    readonly path: string,
    private readonly target: string,
  ) {}

  get socketUrl(): string {
    return `unix://${this.path}`;
  }

  async forward(): Promise<void> {
    this.mode = 'forward';
    await this.listen();
  }

  async refusing(): Promise<void> {
    this.mode = 'refusing';
    this.dropAll();
    await this.listen();
  }

  async gone(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.dropAll();
    if (server) await new Promise<void>((r) => server.close(() => r()));
    await rm(this.path, { force: true });
  }

  async close(): Promise<void> {
    await this.gone();
  }

  private dropAll(): void {
    for (const s of this.open) s.destroy();
    this.open.clear();
  }

  private async listen(): Promise<void> {
    if (this.server) return;
    await rm(this.path, { force: true });
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
    this.server = server;
  }

  private accept(client: Socket): void {
    if (this.mode === 'refusing') {
      this.refused++;
      client.destroy();
      return;
    }
    this.forwarded++;
    const upstream = connect(this.target);
    this.open.add(client);
    this.open.add(upstream);
    const done = () => {
      client.destroy();
      upstream.destroy();
      this.open.delete(client);
      this.open.delete(upstream);
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    // Client → engine, each chunk `delayMs` late and in order; engine → client as it comes.
    let chain = Promise.resolve();
    client.on('data', (chunk: Buffer) => {
      const delay = this.delayMs;
      chain = chain
        .then(() => (delay > 0 ? new Promise((r) => setTimeout(r, delay)) : undefined))
        .then(() => {
          if (!upstream.destroyed) upstream.write(chunk);
        });
    });
    client.on('end', () => void chain.then(() => upstream.end()));
    upstream.pipe(client);
  }
}

/**
 * Two services whose health checks both run through the engine: `proc` (a `process` check, the engine's top) and
 * `cmd` (a `custom` check, an exec). These are the checks an unreachable or slow engine affects.
 */
export function engineCheckedServices(
  registry: string,
  check: { intervalSeconds: number; timeoutSeconds: number; failureThreshold: number; startupDelaySeconds: number },
) {
  return {
    proc: {
      image: `${registry}/lab/busybox:1`,
      command: ['sleep', '3600'],
      healthCheck: { kind: 'process' as const, processName: 'sleep 3600', ...check },
    },
    cmd: {
      image: `${registry}/lab/busybox:1`,
      command: ['sleep', '3600'],
      healthCheck: { kind: 'custom' as const, command: ['test', '-d', '/tmp'], ...check },
    },
  };
}
