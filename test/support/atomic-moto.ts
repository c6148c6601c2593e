/**
 * moto_server with every request serialised.
 *
 * DynamoDB guarantees that a single-item write (UpdateItem with ADD, any write with a ConditionExpression,
 * a transaction) is atomic. moto_server runs a threaded HTTP server with no locking in its DynamoDB model, so
 * two concurrent requests can both pass the same condition or both read the same counter (measured: 100
 * parallel `ADD n 1` end at 99 now and then). Tests whose subject IS concurrency (exactly one transition,
 * no lost failure count) would then test the emulator's race, not our code. This launcher runs moto's own
 * WSGI app behind one lock, which restores per-request atomicity; everything else is moto unchanged.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, motoAvailable, MOTO_INSTALL_HINT, waitForHttp, type Emulator } from '../../local/moto.js';

const SERVER = `
import sys, threading
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()
def serialised(environ, start_response):
    with lock:
        # Consume the whole response inside the lock: the backend work happens while it is produced.
        return list(app(environ, start_response))
run_simple(sys.argv[1], int(sys.argv[2]), serialised, threaded=True)
`;

export async function startAtomicMoto(): Promise<Emulator> {
  if (!motoAvailable()) throw new Error(MOTO_INSTALL_HINT);
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn('python3', ['-c', SERVER, '127.0.0.1', String(port)], { stdio: 'ignore' });
  await waitForHttp(`${endpoint}/moto-api/`, 20_000, child);
  return {
    endpoint,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** Point this test process at a serialised moto of its own (call before createTestInfra/createApiFixture). */
export async function useAtomicEmulator(): Promise<Emulator> {
  const emu = await startAtomicMoto();
  process.env.AWS_ENDPOINT_URL = emu.endpoint;
  return emu;
}
