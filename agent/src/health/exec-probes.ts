/**
 * Checks that look inside the container through the Docker Engine API (no docker CLI, no bash needed):
 * - process: `GET /containers/{id}/top` lists the container's processes (Docker runs ps on the host, Podman
 *   reads them itself or runs ps in the container), so even an image without `ps`/`pgrep` can be checked.
 *   Falls back to exec `ps` inside the container if the engine refuses `top`.
 * - custom: the command through the exec API; exit code 0 within the timeout means healthy.
 *   An exec that overruns its timeout is reported unhealthy at once; the engine API cannot kill an exec, so
 *   a hung command keeps running in the container until it ends (wrap it in `timeout` if the image has one).
 */
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import type { CheckOutcome } from './tracker.js';

const MAX_OUTPUT = 1024;

export interface ExecResult {
  exitCode: number | null;
  output: string;
  timedOut: boolean;
}

/** Runs a command inside a running container; output (stdout+stderr, demultiplexed) capped at 1 KiB. */
export async function execInContainer(docker: Docker, containerId: string, cmd: string[], timeoutMs: number): Promise<ExecResult> {
  const container = docker.getContainer(containerId);
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, AttachStdin: false, Tty: false });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  let size = 0;
  const sink = {
    write(chunk: Buffer) {
      if (size < MAX_OUTPUT) chunks.push(chunk.subarray(0, MAX_OUTPUT - size));
      size += chunk.length;
      return true;
    },
  };
  docker.modem.demuxStream(stream, sink as unknown as NodeJS.WritableStream, sink as unknown as NodeJS.WritableStream);
  const timedOut = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(true), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve(false);
    };
    stream.once('end', done);
    stream.once('close', done);
    stream.once('error', done);
  });
  stream.destroy();
  const output = Buffer.concat(chunks).toString('utf8').trim();
  if (timedOut) return { exitCode: null, output, timedOut };
  // The stream ends when the process does; the engine may need a moment to record the exit code.
  for (let i = 0; i < 20; i++) {
    const info = await exec.inspect();
    if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) return { exitCode: info.ExitCode, output, timedOut: false };
    await new Promise((r) => setTimeout(r, 25));
  }
  return { exitCode: null, output, timedOut: false };
}

export async function customProbe(docker: Docker, containerId: string, command: string[], timeoutMs: number): Promise<CheckOutcome> {
  const started = performance.now();
  try {
    const r = await execInContainer(docker, containerId, command, timeoutMs);
    const durationMs = performance.now() - started;
    if (r.timedOut) return { healthy: false, message: `command did not finish within ${timeoutMs} ms`, durationMs };
    const tail = r.output ? `: ${r.output.slice(-300)}` : '';
    return { healthy: r.exitCode === 0, message: `exit code ${r.exitCode ?? 'unknown'}${tail}`, durationMs };
  } catch (err) {
    return { healthy: false, message: `exec failed: ${(err as Error).message}`, durationMs: performance.now() - started };
  }
}

/** Lines of `top`/`ps` output, one command line per process. */
export function commandLines(top: { Titles?: string[]; Processes?: string[][] }): string[] {
  const titles = (top.Titles ?? []).map((t) => t.trim().toUpperCase());
  const col = titles.findIndex((t) => t === 'CMD' || t === 'COMMAND' || t === 'ARGS');
  return (top.Processes ?? []).map((row) => {
    // Podman may return the whole row as one string; Docker splits columns, CMD last.
    if (row.length === 1) return row[0]!;
    return col >= 0 ? row.slice(col).join(' ') : row.join(' ');
  });
}

/** pgrep -f semantics: the name matches anywhere in a process's command line. */
export function matchesProcess(lines: readonly string[], processName: string): boolean {
  return lines.some((l) => l.includes(processName));
}

export async function processProbe(docker: Docker, containerId: string, processName: string, timeoutMs: number): Promise<CheckOutcome> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  try {
    const top = await withTimeout(docker.getContainer(containerId).top() as Promise<{ Titles?: string[]; Processes?: string[][] }>, timeoutMs);
    const lines = commandLines(top);
    const found = matchesProcess(lines, processName);
    return { healthy: found, message: found ? `process '${processName}' running` : `no process matching '${processName}' (${lines.length} processes)`, durationMs: elapsed() };
  } catch (err) {
    if ((err as Error).message === 'timeout') return { healthy: false, message: `process list not returned within ${timeoutMs} ms`, durationMs: elapsed() };
    // Some engines refuse `top`; `ps` inside the container is the seed's way (busybox has it).
    try {
      const r = await execInContainer(docker, containerId, ['ps'], Math.max(1, timeoutMs - elapsed()));
      if (r.exitCode !== 0) return { healthy: false, message: `ps failed (${r.exitCode ?? 'timeout'}): ${r.output.slice(0, 200)}`, durationMs: elapsed() };
      const found = matchesProcess(r.output.split('\n').slice(1), processName);
      return { healthy: found, message: found ? `process '${processName}' running` : `no process matching '${processName}'`, durationMs: elapsed() };
    } catch (err2) {
      return { healthy: false, message: `process check failed: ${(err2 as Error).message}`, durationMs: elapsed() };
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
