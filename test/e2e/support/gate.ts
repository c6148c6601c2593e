/**
 * A gate in front of the emulator: an HTTP forwarder the whole fleet talks to instead of moto itself.
 * `down()` makes the emulator unreachable to every client (new requests have their connection reset), waits
 * for the requests already forwarded to finish, and `up()` lets traffic through again. Restarting moto behind
 * a closed gate, with its data snapshotted and reloaded directly, is an emulator restart in which nothing the
 * emulator acknowledged is lost — as with a persistent emulator (LocalStack PERSISTENCE=1) or AWS itself.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Gate {
  url: string;
  down(): Promise<void>;
  up(): void;
  close(): Promise<void>;
}

export async function startGate(target: string): Promise<Gate> {
  const to = new URL(target);
  let open = true;
  let inFlight = 0;
  const idle: (() => void)[] = [];
  const done = () => {
    inFlight--;
    if (inFlight === 0) for (const r of idle.splice(0)) r();
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (!open) {
      req.socket.destroy();
      return;
    }
    inFlight++;
    let finished = false;
    const finish = () => {
      if (!finished) {
        finished = true;
        done();
      }
    };
    const upstream = request(
      { hostname: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        up.on('end', finish);
        up.on('error', finish);
      },
    );
    upstream.on('error', () => {
      finish();
      req.socket.destroy();
    });
    res.on('close', finish);
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async down() {
      open = false;
      // Keep-alive connections would otherwise carry new requests through the closed gate.
      server.closeIdleConnections();
      if (inFlight > 0) await new Promise<void>((r) => idle.push(r));
    },
    up() {
      open = true;
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
