/**
 * The EventBridge schedules, locally: each job runs every N seconds with a "Scheduled Event" payload.
 * A run still going when its next tick comes is not overlapped: the tick is skipped and counted, so a slow
 * evaluator never runs twice at once (EventBridge itself would overlap; the handlers must not rely on that,
 * but locally we keep logs readable and load bounded).
 */
import { randomUUID } from 'node:crypto';
import type { ScheduledEvent } from 'aws-lambda';
import { invokeWithTimeout, LOCAL_ACCOUNT_ID, localRegion, type LocalHandler } from './lambda-context.js';

export interface ScheduleDef {
  /** Function name, e.g. `health-evaluator`; also the rule name. */
  name: string;
  handler?: LocalHandler;
  /** Resolved per run (a handler module that appears later is picked up). */
  resolve?: () => Promise<LocalHandler>;
  everyMs: number;
  timeoutMs?: number;
}

export interface ScheduleRun {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
  result?: unknown;
}

export interface JobStats {
  runs: number;
  failures: number;
  skippedOverlaps: number;
  running: boolean;
  lastRun?: ScheduleRun;
}

export interface Scheduler {
  stats(name: string): JobStats;
  /** Run a job now (tests, `npm start`'s first tick); waits for a run in progress instead of overlapping it. */
  runNow(name: string): Promise<ScheduleRun>;
  /** Stop ticking and wait for running jobs to finish. */
  stop(): Promise<void>;
}

export interface SchedulerOptions {
  onRun?: (run: ScheduleRun) => void;
  /** Run every job once at start instead of waiting a full interval. */
  runAtStart?: boolean;
}

export function scheduledEvent(ruleName: string, now = Date.now()): ScheduledEvent {
  const region = localRegion();
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: LOCAL_ACCOUNT_ID,
    // EventBridge sends whole seconds: 2024-01-01T00:00:00Z.
    time: new Date(Math.floor(now / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
    region,
    resources: [`arn:aws:events:${region}:${LOCAL_ACCOUNT_ID}:rule/${ruleName}`],
    detail: {},
  };
}

export function startScheduler(defs: ScheduleDef[], opts: SchedulerOptions = {}): Scheduler {
  const jobs = new Map<
    string,
    { def: ScheduleDef; stats: JobStats; current?: Promise<ScheduleRun>; timer?: NodeJS.Timeout }
  >();
  let stopped = false;
  for (const def of defs) {
    if (!def.handler === !def.resolve) throw new Error(`schedule ${def.name}: give exactly one of handler and resolve`);
    if (!(def.everyMs > 0)) throw new Error(`schedule ${def.name}: everyMs must be positive`);
    jobs.set(def.name, { def, stats: { runs: 0, failures: 0, skippedOverlaps: 0, running: false } });
  }

  const run = (name: string): Promise<ScheduleRun> => {
    const job = jobs.get(name);
    if (!job) throw new Error(`no schedule named ${name}`);
    const started = Date.now();
    job.stats.running = true;
    job.current = (async (): Promise<ScheduleRun> => {
      try {
        const handler = job.def.handler ?? (await job.def.resolve!());
        const result = await invokeWithTimeout(
          handler,
          scheduledEvent(name, started),
          name,
          job.def.timeoutMs ?? 60_000,
        );
        return { name, ok: true, ms: Date.now() - started, result };
      } catch (err) {
        return { name, ok: false, ms: Date.now() - started, error: (err as Error)?.message ?? String(err) };
      }
    })().then((r) => {
      job.stats.runs++;
      if (!r.ok) job.stats.failures++;
      job.stats.running = false;
      job.stats.lastRun = r;
      job.current = undefined;
      opts.onRun?.(r);
      return r;
    });
    return job.current;
  };

  const tick = (name: string) => {
    const job = jobs.get(name)!;
    if (stopped) return;
    if (job.current) job.stats.skippedOverlaps++;
    else void run(name);
    job.timer = setTimeout(() => tick(name), job.def.everyMs);
  };

  for (const [name, job] of jobs) {
    if (opts.runAtStart) tick(name);
    else job.timer = setTimeout(() => tick(name), job.def.everyMs);
  }

  return {
    stats: (name) => {
      const job = jobs.get(name);
      if (!job) throw new Error(`no schedule named ${name}`);
      return { ...job.stats };
    },
    async runNow(name) {
      const job = jobs.get(name);
      if (!job) throw new Error(`no schedule named ${name}`);
      // `while`: two callers waiting on the same run must not both start the next one.
      while (job.current) await job.current;
      return run(name);
    },
    async stop() {
      stopped = true;
      for (const job of jobs.values()) clearTimeout(job.timer);
      await Promise.allSettled([...jobs.values()].map((j) => j.current));
    },
  };
}
