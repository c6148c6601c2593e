/**
 * How the local fleet stops. A terminal's Ctrl-C sends SIGINT to the whole foreground process group (npm, tsx
 * and node), so one press can reach this process twice within milliseconds; a second signal must not cut the
 * save of the first short. So: the first signal starts the shutdown (which saves state); further signals are
 * ignored until `forceAfterMs` has passed since the first, and only a press after that forces an exit.
 * Meanwhile a periodic snapshot bounds what a crash (kill -9, power loss) can lose to one interval.
 */
export interface ShutdownOptions {
  /** Stop everything and save; resolves with the exit code. */
  shutdown: (signal: string) => Promise<number>;
  out: (s: string) => void;
  exit: (code: number) => void;
  /** A second signal forces only this long after the first (default 3 s). */
  forceAfterMs?: number;
  now?: () => number;
}

/** Returns the signal handler (register it for SIGINT and SIGTERM). */
export function signalHandler(opts: ShutdownOptions): (signal: string) => void {
  const forceAfterMs = opts.forceAfterMs ?? 3000;
  const now = opts.now ?? Date.now;
  let firstAt: number | undefined;
  return (signal) => {
    if (firstAt === undefined) {
      firstAt = now();
      opts.out(
        `\n${signal}: shutting down and saving state (press Ctrl-C again after ${Math.round(forceAfterMs / 1000)} s to force an exit without saving)...`,
      );
      void opts.shutdown(signal).then(opts.exit, () => opts.exit(1));
      return;
    }
    const waited = now() - firstAt;
    // The same press arriving through another process of the group, or an impatient second press: keep saving.
    if (waited < forceAfterMs) return;
    opts.out('Forced exit: state not saved.');
    opts.exit(130);
  };
}

export interface PeriodicSave {
  /** Stop the timer and wait for a save in progress. */
  stop(): Promise<void>;
}

/** Run `save` every `intervalMs` (never two at once); failures are reported and the next round tries again. */
export function startPeriodicSave(
  save: () => Promise<void>,
  intervalMs: number,
  onError: (err: unknown) => void,
): PeriodicSave {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = save()
      .catch(onError)
      .finally(() => (running = undefined));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
