/**
 * moto_server as a child process: a real AWS wire-protocol emulator for `npm start` and for tests.
 * Lives in local/ because the local fleet depends on it; test/support/moto.ts re-exports it for tests.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export interface Emulator {
  endpoint: string;
  /** Stops the emulator if this process started it; a no-op for an external endpoint. */
  stop(): Promise<void>;
  /** Only for emulators we started: kill it and start it again on the same port (fault tests). */
  restart?(): Promise<void>;
  /** Process id of an emulator we started. */
  pid?(): number | undefined;
}

export const MOTO_INSTALL_HINT =
  'moto_server not found on PATH. Install it with: pip install "moto[server]>=5" (or set AWS_ENDPOINT_URL to a running emulator such as LocalStack).';

/** Point the AWS SDK at an emulator; moto accepts any credentials, the SDK insists on having some. */
export function applyAwsTestEnv(endpoint: string): void {
  process.env.AWS_ENDPOINT_URL = endpoint;
  process.env.AWS_REGION ??= 'us-east-1';
  process.env.AWS_DEFAULT_REGION ??= process.env.AWS_REGION;
  process.env.AWS_ACCESS_KEY_ID ??= 'testing';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function motoAvailable(): boolean {
  return spawnSync('moto_server', ['--help'], { stdio: 'ignore' }).status === 0;
}

export async function waitForHttp(url: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null)
      throw new Error(`moto_server exited with code ${child.exitCode} before it answered`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return;
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`emulator at ${url} did not answer within ${timeoutMs} ms: ${String(lastError)}`);
}

/**
 * moto's own WSGI app with DynamoDB requests behind one lock. DynamoDB makes every single-item write (conditional writes, ADD) atomic;
 * moto_server's threaded server does not (concurrent conditional writes can both pass). The local fleet runs
 * handlers concurrently (API, pollers, schedules), so it uses this to keep DynamoDB's guarantees.
 * Tests use it too (test/support/moto.ts), so race assertions test our conditional writes, not moto's threads.
 */
const SERIALISED_SERVER = `
import sys, threading
from werkzeug.serving import run_simple, WSGIRequestHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()
def serialised(environ, start_response):
    # Only DynamoDB needs it; an SQS long poll must not hold every other request for its wait time.
    if not environ.get('HTTP_X_AMZ_TARGET', '').startswith('DynamoDB'):
        return app(environ, start_response)
    with lock:
        return list(app(environ, start_response))
if len(sys.argv) > 3 and sys.argv[3] == 'keep-alive':
    WSGIRequestHandler.protocol_version = 'HTTP/1.1'
run_simple(sys.argv[1], int(sys.argv[2]), serialised, threaded=True)
`;

export interface StartMotoOptions {
  port?: number;
  quiet?: boolean;
  /** Own process group: a terminal's Ctrl-C reaches only us (we dump state, then stop the emulator). */
  detached?: boolean;
  /** Serialise requests so single-item writes are atomic, as in DynamoDB (see SERIALISED_SERVER). */
  serialised?: boolean;
  /**
   * Keep connections open between requests (HTTP/1.1; the default server closes each after one answer). With a
   * thousand simulated devices the emulator's accept loop, starved of the GIL by its busy worker threads, became
   * the bottleneck: SDK calls failed to connect within their 1 s connect timeout. Only with `serialised`.
   */
  keepAlive?: boolean;
}

/** Start moto_server on a free loopback port (or on `port`), resolve once it answers HTTP. */
export async function startMoto(requested: StartMotoOptions = {}): Promise<Emulator> {
  let opts = requested;
  if (!motoAvailable()) throw new Error(MOTO_INSTALL_HINT);
  const port = opts.port ?? (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;
  let child: ChildProcess;
  const launch = async () => {
    const [cmd, args] = opts.serialised
      ? ['python3', ['-c', SERIALISED_SERVER, '127.0.0.1', String(port), ...(opts.keepAlive ? ['keep-alive'] : [])]]
      : ['moto_server', ['-H', '127.0.0.1', '-p', String(port)]];
    child = spawn(cmd as string, args as string[], {
      stdio: opts.quiet === false ? 'inherit' : 'ignore',
      // Detached: its own process group, so a terminal's Ctrl-C reaches only us and we can dump state before
      // stopping it. We still stop it on exit.
      detached: !!opts.detached,
    });
    if (opts.detached) {
      const c = child;
      process.once('exit', () => c.exitCode === null && c.kill('SIGKILL'));
    }
    await waitForHttp(`${endpoint}/moto-api/`, 20_000, child);
  };
  const kill = async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  try {
    await launch();
  } catch (err) {
    if (!opts.serialised) throw err;
    // python3 on PATH may not be the interpreter moto is installed in: plain moto_server still works.
    opts = { ...opts, serialised: false };
    await launch();
  }
  return {
    endpoint,
    pid: () => child?.pid,
    stop: kill,
    restart: async () => {
      await kill();
      await launch();
    },
  };
}
