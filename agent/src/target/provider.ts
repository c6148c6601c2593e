/**
 * Where the target state comes from. The agent asks its provider at the start of every cycle; a provider that
 * throws is "unavailable" and the agent keeps converging to the last target it applied (persisted), so a
 * device keeps working offline. Providers: the local file (`--target-file`, here) and the cloud link
 * agent/src/cloud). Targets can also be pushed with `agent.setTarget()` (jobs, rollback).
 */
import type { TargetState } from '#contract/target-state.js';

export interface TargetSnapshot {
  /** Version (the cloud's ETag, or a content hash for files). */
  version: string;
  target: TargetState;
  /** Where it came from: 'file', 'cloud', 'job', 'rollback', 'persisted'... */
  source: string;
}

export interface TargetProvider {
  readonly name: string;
  /**
   * The current target, or null when the source has none yet. Throw when the source is unavailable or its
   * content invalid: the agent keeps the last applied target and reports the problem.
   */
  fetch(): Promise<TargetSnapshot | null>;
  /** Optional push notification: call `onChange` when a new target may be available (the agent reconciles at once). */
  watch?(onChange: () => void): () => void;
}
