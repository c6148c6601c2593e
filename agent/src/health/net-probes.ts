/**
 * http and tcp probes, run from the agent's side (see address.ts for how the address is found).
 * No keep-alive on purpose: every check opens a fresh connection, so a service that stopped accepting
 * connections cannot hide behind a pooled socket, and an idle agent holds no sockets.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { CheckOutcome } from './tracker.js';

export function httpProbe(host: string, port: number, path: string, timeoutMs: number): Promise<CheckOutcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (healthy: boolean, message?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ healthy, message, durationMs: performance.now() - started });
    };
    const req = request({ host, port, path, method: 'GET', agent: false, headers: { 'user-agent': 'fleetmedic-agent-healthcheck', connection: 'close' } }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume(); // the status decides; the body is not needed
      finish(status >= 200 && status < 300, `HTTP ${status} from ${host}:${port}${path}`);
    });
    const timer = setTimeout(() => finish(false, `no answer from ${host}:${port}${path} within ${timeoutMs} ms`), timeoutMs);
    req.on('error', (err) => finish(false, `${host}:${port}${path}: ${err.message}`));
    req.end();
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
    const timer = setTimeout(() => finish(false, `no TCP connection to ${host}:${port} within ${timeoutMs} ms`), timeoutMs);
    socket.once('connect', () => finish(true, `TCP ${host}:${port} accepted`));
    socket.once('error', (err) => finish(false, `TCP ${host}:${port}: ${err.message}`));
  });
}
