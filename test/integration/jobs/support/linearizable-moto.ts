/**
 * A moto_server whose DynamoDB calls are each atomic (see moto_linearizable.py), for the race tests of this
 * directory. Started per test file on a free port; the file's handlers and clients use it via AWS_ENDPOINT_URL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { applyAwsTestEnv, freePort, motoAvailable, MOTO_INSTALL_HINT, waitForHttp } from '../../../../local/moto.js';

export interface LinearizableMoto {
  endpoint: string;
  stop(): Promise<void>;
}

export async function startLinearizableMoto(): Promise<LinearizableMoto> {
  if (!motoAvailable()) throw new Error(MOTO_INSTALL_HINT);
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const python = process.env.MOTO_PYTHON ?? 'python3';
  const child: ChildProcess = spawn(python, [join(import.meta.dirname, 'moto_linearizable.py'), '127.0.0.1', String(port)], { stdio: 'ignore' });
  await waitForHttp(`${endpoint}/moto-api/`, 20_000, child);
  applyAwsTestEnv(endpoint);
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
