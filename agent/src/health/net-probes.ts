/**
 * http and tcp probes, run from the agent's side (see address.ts for how the address is found).
 * No keep-alive on purpose: every check opens a fresh connection, so a service that stopped accepting
 * connections cannot hide behind a pooled socket, and an idle agent holds no sockets.
 */
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { CheckOutcome } from './tracker.js';

/**
 * HTTP GET over a plain TCP socket, reading only the status line. The check needs nothing else, and the
 * node:http client (parser pool, agent bookkeeping) measurably grows the idle agent's resident memory when it
 * runs every 2 s for ten services.
 */
export function httpProbe(host: string, port: number, path: string, timeoutMs: number): Promise<CheckOutcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    let done = false;
    let head = '';
    const socket = connect({ host, port });
    const where = `${host}:${port}${path}`;
    const finish = (healthy: boolean, message: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ healthy, message, durationMs: performance.now() - started });
    };
    const timer = setTimeout(() => finish(false, `no answer from ${where} within ${timeoutMs} ms`), timeoutMs);
    socket.setNoDelay(true);
    socket.once('connect', () => {
      const hostHeader = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nUser-Agent: fleetmedic-agent-healthcheck\r\nConnection: close\r\n\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const eol = head.indexOf('\r\n');
      if (eol < 0) {
        if (head.length > 1024) finish(false, `${where}: no HTTP status line`);
        return;
      }
      const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(head.slice(0, eol));
      if (!m) return finish(false, `${where}: not an HTTP answer`);
      const status = Number(m[1]);
      finish(status >= 200 && status < 300, `HTTP ${status} from ${where}`);
    });
    socket.once('end', () => finish(false, `${where}: connection closed before an HTTP status`));
    socket.once('error', (err) => finish(false, `${where}: ${err.message}`));
  });
}

export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<CheckOutcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const socket = connect({ host, port });
    const finish = (healthy: boolean, message: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ healthy, message, durationMs: performance.now() - started });
    };
    const timer = setTimeout(
      () => finish(false, `no TCP connection to ${host}:${port} within ${timeoutMs} ms`),
      timeoutMs,
    );
    socket.once('connect', () => finish(true, `TCP ${host}:${port} accepted`));
    socket.once('error', (err) => finish(false, `TCP ${host}:${port}: ${err.message}`));
  });
}
