/**
 * Write-ahead journal of job executions: a job's side effects happen at most once, even across an agent crash.
 *
 *   claimed   written (fsync'd) BEFORE the job's side effects start
 *   finished  the side effects are done; the outcome is kept so it can be (re)reported
 *   reported  the API accepted the terminal status
 *
 * Keyed by `<jobId>#<attempt>`: the control plane may hand the same job out again as a NEW attempt (its own
 * retry policy), which is a fresh decision to execute; the same attempt seen twice is never executed twice.
 *
 * Crash semantics (the choice, and why): a job found `claimed` but not `finished` after a restart may have
 * done all, part or none of its work, and the agent cannot tell (a restart-service may or may not have
 * restarted the container). It is NOT executed again: it is reported FAILED with
 * `reason: 'agent restarted mid-job'`, `retryable: true`. Re-checking idempotently would be right for some
 * types (pull-image, set-target-state are declarative) and wrong for others (restart-service restarts a
 * service that may be serving again), so one uniform at-most-once rule keeps the promise "never twice"
 * without per-type guesswork; the control plane, which sees the failure, decides about a new attempt.
 *
 * Stored with the agent's JsonStore (atomic replace, checksum, previous good copy), bounded to the most
 * recent `maxEntries` entries (terminal ones are pruned first).
 */
import * as z from 'zod/mini';
import { JsonStore } from '../state/json-store.js';

export const JOURNAL_STATES = ['claimed', 'finished', 'reported'] as const;
export type JournalState = (typeof JOURNAL_STATES)[number];

const Outcome = z.object({
  status: z.enum(['SUCCEEDED', 'FAILED', 'REJECTED']),
  details: z._default(z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])), {}),
});
export type JobOutcome = z.output<typeof Outcome>;

const Entry = z.object({
  jobId: z.string(),
  attempt: z.int(),
  type: z.string(),
  state: z.enum(JOURNAL_STATES),
  claimedAt: z.string(),
  updatedAt: z.string(),
  outcome: z.optional(Outcome),
});
export type JournalEntry = z.output<typeof Entry>;

const JournalDoc = z.object({ entries: z.array(Entry) });
type JournalDoc = z.output<typeof JournalDoc>;

export const journalKey = (jobId: string, attempt: number) => `${jobId}#${attempt}`;

export const MID_JOB_RESTART: JobOutcome = {
  status: 'FAILED',
  details: { reason: 'agent restarted mid-job', retryable: true },
};

export class JobJournal {
  private readonly store: JsonStore<JournalDoc>;
  private readonly byKey = new Map<string, JournalEntry>();

  constructor(
    dir: string,
    private readonly maxEntries = 500,
    private readonly wallNow: () => number = Date.now,
  ) {
    this.store = new JsonStore({ dir, name: 'job-journal', schema: JournalDoc, fallback: () => ({ entries: [] }) });
  }

  async load(): Promise<string[]> {
    const r = await this.store.load();
    this.byKey.clear();
    for (const e of r.value.entries) this.byKey.set(journalKey(e.jobId, e.attempt), e);
    return r.problems;
  }

  get(jobId: string, attempt: number): JournalEntry | undefined {
    return this.byKey.get(journalKey(jobId, attempt));
  }

  /** Entries whose work started but did not finish (the agent died in between). */
  interrupted(): JournalEntry[] {
    return [...this.byKey.values()].filter((e) => e.state === 'claimed');
  }

  /** Durably records that the job's side effects are about to start. Throws if it was claimed before. */
  async claim(jobId: string, attempt: number, type: string): Promise<JournalEntry> {
    const key = journalKey(jobId, attempt);
    if (this.byKey.has(key)) throw new Error(`job ${key} was already claimed`);
    const now = new Date(this.wallNow()).toISOString();
    const entry: JournalEntry = { jobId, attempt, type, state: 'claimed', claimedAt: now, updatedAt: now };
    this.byKey.set(key, entry);
    await this.persist();
    return entry;
  }

  async finish(jobId: string, attempt: number, outcome: JobOutcome): Promise<void> {
    await this.move(jobId, attempt, 'finished', outcome);
  }

  async reported(jobId: string, attempt: number): Promise<void> {
    await this.move(jobId, attempt, 'reported');
  }

  private async move(jobId: string, attempt: number, state: JournalState, outcome?: JobOutcome): Promise<void> {
    const e = this.byKey.get(journalKey(jobId, attempt));
    if (!e) throw new Error(`job ${journalKey(jobId, attempt)} is not in the journal`);
    e.state = state;
    e.updatedAt = new Date(this.wallNow()).toISOString();
    if (outcome) e.outcome = outcome;
    await this.persist();
  }

  private persist(): Promise<void> {
    this.prune();
    return this.store.save({ entries: [...this.byKey.values()] });
  }

  /** Oldest reported entries go first; unfinished ones are never pruned (they still owe a report). */
  private prune(): void {
    if (this.byKey.size <= this.maxEntries) return;
    const victims = [...this.byKey.entries()]
      .filter(([, e]) => e.state === 'reported')
      .sort(([, a], [, b]) => (a.updatedAt < b.updatedAt ? -1 : a.updatedAt > b.updatedAt ? 1 : 0)); // not localeCompare: ICU collation costs ~3 MB RSS
    for (const [key] of victims) {
      if (this.byKey.size <= this.maxEntries) break;
      this.byKey.delete(key);
    }
  }
}
