/**
 * Checks that look inside the container through the Docker Engine API (no docker CLI, no bash needed):
 * - process: `GET /containers/{id}/top` lists the container's processes (Docker runs ps on the host, Podman
 *   reads them itself or runs ps in the container), so even an image without `ps`/`pgrep` can be checked.
 *   Falls back to exec `ps` inside the container if the engine refuses `top`.
 * - custom: the command through the exec API; exit code 0 within the timeout means healthy.
 *
 * Two clocks, because a busy engine is not a sick service (docs/architecture.md, "Health checks on a busy
 * engine"): the check's `timeoutSeconds` is the COMMAND's time, counted from the moment the command runs,
 * which the command itself reports (it is wrapped in `sh -c 'echo $$; "$@"; echo exit:$?'`); getting it
 * started (exec create + start, 0.3 s on an idle lab engine, 6-8 s with four checks at once on a loaded one) has its own allowance,
 * `engineAllowanceMs`. A command that runs past its timeout is unhealthy and is killed (its process group,
 * through a second exec), so a hung check never leaves a process behind. An exec the engine did not start
 * within its allowance, or could not be asked for at all, is `unknown`: not a pass, not a failure.
 * An image without `sh` runs the command unwrapped: then the timeout counts from the exec's start and a
 * command that overruns it cannot be killed (the engine API has no call for it).
 *
 * Longer than the ~400 lines a file keeps to: both probe kinds share the exec machinery (the engine allowance,
 * reaping, the process-group kill) that makes them safe on a busy engine, and it reads best in one place.
 */
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import { isEngineUnreachable, withEngineDeadline } from '../engine/availability.js';
import type { CheckOutcome } from './tracker.js';

const MAX_OUTPUT = 1024;
/** Default time the engine gets to start an exec (or answer `top`) on top of the check's own timeout. */
export const DEFAULT_ENGINE_ALLOWANCE_MS = 15_000;
const EXIT_MARK = 'fm-exit:';
/** Reports the shell's PID (the exec's process group: every exec session is its own group), runs the command, reports its exit code. */
const WRAPPER = `echo "$$"; "$@"; c=$?; printf '\\n${EXIT_MARK}%d\\n' "$c"; exit "$c"`;
const NO_SHELL = /executable file not found|no such file or directory|not found/i;

export type ExecResult =
  /** The command ran and ended. */
  | { kind: 'exited'; exitCode: number; output: string }
  /** The command ran and overran its timeout (killed when `killed`). */
  | { kind: 'timed-out'; output: string; killed: boolean }
  /** The command could not be run: the engine was unreachable, too slow to start it, or refused. */
  | { kind: 'not-run'; reason: string; cause: NotRunCause };

/** unreachable: no connection or no answer; slow: answered, but did not start it in time; error: refused it. */
export type NotRunCause = 'unreachable' | 'slow' | 'error' | 'no-shell';

function causeOf(err: unknown): NotRunCause {
  if ((err as { code?: string }).code === 'EENGINETIMEOUT') return 'slow';
  return isEngineUnreachable(err) ? 'unreachable' : 'error';
}

/** Maps a command that could not be run onto the check's "unknown" reason. */
function unknownOf(cause: NotRunCause): NonNullable<CheckOutcome['unknown']> {
  return cause === 'unreachable' ? 'engine-unreachable' : cause === 'slow' ? 'engine-slow' : 'engine-error';
}

export interface ExecOptions {
  timeoutMs: number;
  engineAllowanceMs?: number;
  /** Run the command as it is (no `sh` in the image). */
  unwrapped?: boolean;
}

/** Output collector capped at MAX_OUTPUT (stdout and stderr together, demultiplexed). */
class Sink {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  /** The first line of stdout, as soon as it is complete (the wrapper's PID). */
  firstLine: string | undefined;
  private head = '';
  constructor(
    public onFirstLine?: (line: string) => void,
    private readonly expectHead = false,
  ) {}
  stdout = { write: (chunk: Buffer) => this.take(chunk, true) };
  stderr = { write: (chunk: Buffer) => this.take(chunk, false) };
  private take(received: Buffer, isStdout: boolean): boolean {
    let chunk = received;
    if (this.expectHead && isStdout && this.firstLine === undefined) {
      this.head += chunk.toString('utf8');
      const i = this.head.indexOf('\n');
      if (i < 0) return true;
      this.firstLine = this.head.slice(0, i).trim();
      chunk = Buffer.from(this.head.slice(i + 1));
      this.head = '';
      this.onFirstLine?.(this.firstLine);
    }
    if (isStdout) this.stdoutTail = (this.stdoutTail + chunk.toString('latin1')).slice(-64);
    if (this.size < MAX_OUTPUT * 2) this.chunks.push(chunk.subarray(0, MAX_OUTPUT * 2 - this.size));
    this.size += chunk.length;
    return true;
  }
  /** The end of stdout alone (the wrapper's exit line is looked for there, never in stderr). */
  stdoutTail = '';
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** Splits the wrapper's exit line (the end of stdout) off the output: [output, exit code or undefined]. */
export function splitExitMark(raw: string, stdoutTail: string): [string, number | undefined] {
  const m = new RegExp(`\\n${EXIT_MARK}(\\d+)\\n$`).exec(stdoutTail);
  if (!m) return [raw.trim().slice(-MAX_OUTPUT), undefined];
  const i = raw.lastIndexOf(m[0]);
  const output = i >= 0 ? raw.slice(0, i) + raw.slice(i + m[0].length) : raw;
  return [output.trim().slice(-MAX_OUTPUT), Number(m[1])];
}

/**
 * Runs a command inside a running container (see the top of this file for the two clocks). Every engine call
 * has a deadline, and the result always comes within timeoutMs + 2 × engineAllowanceMs.
 */
export async function execInContainer(
  docker: Docker,
  containerId: string,
  cmd: string[],
  opts: ExecOptions,
): Promise<ExecResult> {
  const allowance = opts.engineAllowanceMs ?? DEFAULT_ENGINE_ALLOWANCE_MS;
  const wrapped = !opts.unwrapped;
  const container = docker.getContainer(containerId);
  const started = performance.now();
  const notRun = (err: unknown, what: string): ExecResult => ({
    kind: 'not-run',
    reason: `${what}: ${(err as Error).message}`,
    cause: causeOf(err),
  });

  let exec: Docker.Exec;
  let stream: NodeJS.ReadWriteStream & { destroy?: () => void; setTimeout?: (ms: number) => void };
  try {
    exec = await withEngineDeadline(
      container.exec({
        Cmd: wrapped ? ['sh', '-c', WRAPPER, 'sh', ...cmd] : cmd,
        AttachStdout: true,
        AttachStderr: true,
        AttachStdin: false,
        Tty: false,
      }),
      allowance,
      'exec create',
    );
  } catch (err) {
    return notRun(err, 'exec create');
  }
  let pid: string | undefined;
  let onPid: (() => void) | undefined;
  const sink = new Sink((line) => {
    pid = /^\d+$/.test(line) ? line : undefined;
    onPid?.();
  }, wrapped);
  let late = false;
  const startCall = exec.start({ hijack: true, stdin: false }) as Promise<typeof stream>;
  // Started after we gave up: the command may still come to life; it is killed if it reports its PID.
  startCall.then(
    (s) => {
      if (late && s) void reap(docker, container, s, allowance, wrapped);
    },
    () => {},
  );
  try {
    stream = await withEngineDeadline(startCall, Math.max(1, allowance - (performance.now() - started)), 'exec start');
  } catch (err) {
    late = true;
    return notRun(err, 'exec start');
  }
  // The engine connection's idle timeout (dockerFromHost) must not cut a command that is allowed to run longer.
  stream.setTimeout?.(0);
  docker.modem.demuxStream(
    stream,
    sink.stdout as unknown as NodeJS.WritableStream,
    sink.stderr as unknown as NodeJS.WritableStream,
  );

  const ended = new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', resolve);
  });
  // Phase 1 (wrapped only): the command reports its PID within the engine's allowance, or it was not run.
  if (wrapped) {
    const reported = await new Promise<'pid' | 'ended' | 'late'>((resolve) => {
      const left = Math.max(1, allowance - (performance.now() - started));
      const t = setTimeout(() => resolve('late'), left);
      const settle = (how: 'pid' | 'ended') => {
        clearTimeout(t);
        resolve(how);
      };
      onPid = () => settle('pid');
      if (sink.firstLine !== undefined) onPid();
      void ended.then(() => settle(sink.firstLine !== undefined ? 'pid' : 'ended'));
    });
    onPid = undefined;
    if (reported !== 'pid') {
      if (reported === 'late') {
        // Still not started: give up on this check, but kill the command if it starts after all.
        void reap(docker, container, stream, allowance, true, sink);
        return {
          kind: 'not-run',
          reason: `the engine did not start the command within ${allowance} ms`,
          cause: 'slow',
        };
      }
      stream.destroy?.();
      {
        // Ended without running the wrapper: no shell in the image (exit 126/127), or the engine failed it.
        const code = await exitCodeOf(exec, allowance);
        const out = sink.text();
        if (code === 126 || code === 127 || NO_SHELL.test(out))
          return {
            kind: 'not-run',
            reason: `no shell in the image (${out.trim().slice(0, 200) || `exit ${code}`})`,
            cause: 'no-shell',
          };
        return {
          kind: 'not-run',
          reason: `exec ended before the command started${code !== undefined ? ` (exit ${code})` : ''}: ${out.trim().slice(0, 200)}`,
          cause: 'error',
        };
      }
    }
  }
  // Phase 2: the command's own time.
  const overran = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(true), opts.timeoutMs);
    void ended.then(() => {
      clearTimeout(t);
      resolve(false);
    });
  });
  stream.destroy?.();
  const [output, markedCode] = wrapped
    ? splitExitMark(sink.text(), sink.stdoutTail)
    : [sink.text().trim().slice(-MAX_OUTPUT), undefined];
  if (overran) {
    const killed = wrapped && pid !== undefined ? await killGroup(container, pid, allowance) : false;
    return { kind: 'timed-out', output, killed };
  }
  if (markedCode !== undefined) return { kind: 'exited', exitCode: markedCode, output };
  // The stream ended without the wrapper's exit line (unwrapped, or the process was killed): ask the engine.
  const code = await exitCodeOf(exec, allowance);
  if (code === undefined)
    return { kind: 'not-run', reason: 'the command ended but the engine did not report its exit code', cause: 'slow' };
  return { kind: 'exited', exitCode: code, output };
}

/**
 * A command started after its check gave up: wait (at most `allowance`) for it to report its PID, kill its
 * process group, and close the stream. Bounded, and never throws.
 */
async function reap(
  docker: Docker,
  container: Docker.Container,
  stream: NodeJS.ReadableStream & { destroy?: () => void },
  allowance: number,
  wrapped: boolean,
  sink?: Sink,
): Promise<void> {
  try {
    if (!wrapped) return;
    let pid = sink?.firstLine;
    if (pid === undefined) {
      pid = await new Promise<string | undefined>((resolve) => {
        const t = setTimeout(() => resolve(undefined), allowance);
        const settle = (line: string | undefined) => {
          clearTimeout(t);
          resolve(line);
        };
        const own = sink ?? new Sink(settle, true);
        if (sink) own.onFirstLine = settle;
        else
          docker.modem.demuxStream(
            stream,
            own.stdout as unknown as NodeJS.WritableStream,
            own.stderr as unknown as NodeJS.WritableStream,
          );
        stream.once('close', () => settle(own.firstLine));
      });
    }
    if (pid && /^\d+$/.test(pid)) await killGroup(container, pid, allowance);
  } finally {
    stream.destroy?.();
  }
}

/** The exec's exit code once the engine has recorded it (it may lag the end of the stream), within `allowance`. */
async function exitCodeOf(exec: Docker.Exec, allowance: number): Promise<number | undefined> {
  const end = performance.now() + allowance;
  for (let wait = 25; performance.now() < end; wait = Math.min(wait * 2, 500)) {
    try {
      const info = await withEngineDeadline(exec.inspect(), Math.max(1, end - performance.now()), 'exec inspect');
      if (!info.Running && typeof info.ExitCode === 'number') return info.ExitCode;
    } catch {
      return undefined;
    }
    await new Promise((r) => setTimeout(r, wait));
  }
  return undefined;
}

/** Kills an overrunning check: its whole process group (the wrapper shell and what it started), else the PID. */
async function killGroup(container: Docker.Container, pid: string, allowance: number): Promise<boolean> {
  try {
    const exec = await withEngineDeadline(
      container.exec({
        Cmd: ['sh', '-c', 'kill -9 -"$1" 2>/dev/null || kill -9 "$1"', 'sh', pid],
        AttachStdout: true,
        AttachStderr: true,
        AttachStdin: false,
        Tty: false,
      }),
      allowance,
      'kill exec create',
    );
    const stream = (await withEngineDeadline(
      exec.start({ hijack: true, stdin: false }),
      allowance,
      'kill exec start',
    )) as NodeJS.ReadableStream & { destroy?: () => void };
    stream.resume();
    const ended = new Promise<void>((r) => {
      stream.once('end', r);
      stream.once('close', r);
      stream.once('error', () => r());
    });
    await withEngineDeadline(ended, allowance, 'kill exec').finally(() => stream.destroy?.());
    return (await exitCodeOf(exec, allowance)) === 0;
  } catch {
    return false;
  }
}

export interface ProbeOptions {
  engineAllowanceMs?: number;
}

/** Containers whose image has no `sh`: their custom checks run unwrapped (ids are dropped with the container). */
const noShell = new Set<string>();

export async function customProbe(
  docker: Docker,
  containerId: string,
  command: string[],
  timeoutMs: number,
  opts: ProbeOptions = {},
): Promise<CheckOutcome> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  let r = await execInContainer(docker, containerId, command, {
    timeoutMs,
    unwrapped: noShell.has(containerId),
    ...opts,
  });
  if (r.kind === 'not-run' && r.cause === 'no-shell') {
    if (noShell.size > 1000) noShell.clear();
    noShell.add(containerId);
    r = await execInContainer(docker, containerId, command, { timeoutMs, unwrapped: true, ...opts });
  }
  switch (r.kind) {
    case 'not-run':
      return {
        healthy: false,
        unknown: unknownOf(r.cause),
        message: `check could not be run: ${r.reason}`,
        durationMs: elapsed(),
      };
    case 'timed-out':
      return {
        healthy: false,
        message: `command did not finish within ${timeoutMs} ms${r.killed ? ' (killed)' : ''}${r.output ? `: ${r.output.slice(-300)}` : ''}`,
        durationMs: elapsed(),
      };
    case 'exited':
      return {
        healthy: r.exitCode === 0,
        message: `exit code ${r.exitCode}${r.output ? `: ${r.output.slice(-300)}` : ''}`,
        durationMs: elapsed(),
      };
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

/**
 * `top` is all engine work (no command of ours runs), so its deadline is the check's timeout plus the
 * engine's allowance, and a `top` that misses it is unknown, not a missing process.
 */
export async function processProbe(
  docker: Docker,
  containerId: string,
  processName: string,
  timeoutMs: number,
  opts: ProbeOptions = {},
): Promise<CheckOutcome> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const allowance = opts.engineAllowanceMs ?? DEFAULT_ENGINE_ALLOWANCE_MS;
  const found = (lines: readonly string[]) => matchesProcess(lines, processName);
  try {
    const top = await withEngineDeadline(
      docker.getContainer(containerId).top() as Promise<{ Titles?: string[]; Processes?: string[][] }>,
      timeoutMs + allowance,
      'top',
    );
    const lines = commandLines(top);
    return {
      healthy: found(lines),
      message: found(lines)
        ? `process '${processName}' running`
        : `no process matching '${processName}' (${lines.length} processes)`,
      durationMs: elapsed(),
    };
  } catch (err) {
    if (isEngineUnreachable(err))
      return {
        healthy: false,
        unknown: unknownOf(causeOf(err)),
        message: `check could not be run: process list: ${(err as Error).message}`,
        durationMs: elapsed(),
      };
    if ((err as { statusCode?: number }).statusCode === 404)
      return { healthy: false, notRunning: true, message: 'container is gone', durationMs: elapsed() };
  }
  // The engine refused `top` (some do for some containers): `ps` inside the container (busybox has it).
  const r = await execInContainer(docker, containerId, ['ps'], { timeoutMs, engineAllowanceMs: allowance });
  switch (r.kind) {
    case 'not-run':
      return {
        healthy: false,
        unknown: unknownOf(r.cause),
        message: `check could not be run: ps: ${r.reason}`,
        durationMs: elapsed(),
      };
    case 'timed-out':
      return { healthy: false, message: `ps did not finish within ${timeoutMs} ms`, durationMs: elapsed() };
    case 'exited': {
      if (r.exitCode !== 0)
        return {
          healthy: false,
          message: `ps failed (${r.exitCode}): ${r.output.slice(0, 200)}`,
          durationMs: elapsed(),
        };
      const lines = r.output.split('\n').slice(1);
      return {
        healthy: found(lines),
        message: found(lines) ? `process '${processName}' running` : `no process matching '${processName}'`,
        durationMs: elapsed(),
      };
    }
  }
}
