/**
 * The alerts a rollout raises when it ends badly (docs/runbook.md "RolloutAborted",
 * "RolloutCompletedWithFailures"): which rollout, which criterion was met (value against its limit), the failed
 * devices grouped by cause with a count and a sample of each, what was already done and what to do.
 * One alert per rollout: the dedupe key names the rollout, and the rollout remembers that it was announced.
 */
import type { AlertInput } from '../alerting/event.js';
import { truncate } from '../alerting/format.js';
import type { Counts } from './criteria.js';
import type { OnAbort } from './lifecycle.js';

export interface FailureGroup {
  cause: string;
  count: number;
  sample: { deviceId: string; detail?: string }[];
}

export interface EndedRollout {
  rolloutId: string;
  description?: string;
  createdAt: string;
  deviceCount: number;
  targetVersion: string;
  onAbort: OnAbort;
  abort?: {
    at: string;
    criterion?: string;
    scope?: string;
    detail: string;
    value?: number;
    limit?: number;
    failures?: FailureGroup[];
  };
  totals: Counts;
  finishedAt?: string;
  /** Failures grouped by cause (a completion's; an abort carries its own). */
  failures?: FailureGroup[];
}

/** How many causes the one-line summary names (the rest are counted). */
const CAUSES_SHOWN = 3;
const SAMPLE_SHOWN = 3;
/** An alert's summary is one message line (the alert event allows 1,000 characters). */
const SUMMARY_MAX = 1000;

export const rolloutAlertKey = (alertName: 'RolloutAborted' | 'RolloutCompletedWithFailures', rolloutId: string) =>
  `${alertName}:${rolloutId}`;

/** `rolled-back ×3 (d1, d2, d3, …); timed-out ×1 (d9)` */
export function describeFailures(groups: readonly FailureGroup[]): string {
  const shown = groups.slice(0, CAUSES_SHOWN).map((g) => {
    const ids = g.sample.slice(0, SAMPLE_SHOWN).map((s) => s.deviceId);
    return `${g.cause} ×${g.count} (${ids.join(', ')}${g.count > ids.length ? ', …' : ''})`;
  });
  const rest = groups.length - shown.length;
  return `${shown.join('; ')}${rest > 0 ? `; and ${rest} more causes` : ''}`;
}

const name = (r: EndedRollout) => `Rollout ${r.rolloutId}${r.description ? ` (${r.description})` : ''}`;

/** An abort by a criterion; undefined for an operator's abort (the operator knows, the event feed says so). */
export function rolloutAbortedAlert(r: EndedRollout): AlertInput | undefined {
  const a = r.abort;
  if (!a?.criterion) return undefined;
  const failures = a.failures ?? [];
  const moved = r.totals.succeeded + r.totals.failed + r.totals.inProgress;
  const summary =
    `${name(r)} aborted: ${a.criterion} met in ${a.scope ?? 'the rollout'} (${a.detail}). ` +
    `${r.totals.failed} of ${r.deviceCount} devices failed, ${r.totals.pending} never touched.` +
    (failures.length ? ` Failures by cause: ${describeFailures(failures)}.` : '');
  return {
    alertName: 'RolloutAborted',
    // Devices left on a target that fails need engineering now; rolled back, the fleet is safe and a person fixes it.
    level: r.onAbort === 'leave' ? 3 : 2,
    dedupeKey: rolloutAlertKey('RolloutAborted', r.rolloutId),
    summary: truncate(summary, SUMMARY_MAX),
    since: Date.parse(a.at),
    tried: [
      'no new device was moved after the criterion was met',
      r.onAbort === 'rollback'
        ? `the ${moved} moved devices are given their previous target back`
        : `the ${moved} moved devices were left on ${r.targetVersion} (onAbort=leave)`,
    ],
    nextAction:
      r.onAbort === 'rollback'
        ? `\`fleetmedic rollout status ${r.rolloutId}\` shows the failures and the rollback; fix the target, then create a new rollout (an aborted one does not resume).`
        : `\`fleetmedic rollout status ${r.rolloutId}\` lists the moved devices: give them their previous target (\`fleetmedic target <device-id> --file\`) or roll a fixed target out; an aborted rollout does not resume.`,
    details: {
      rolloutId: r.rolloutId,
      criterion: a.criterion,
      scope: a.scope ?? 'rollout',
      value: a.value ?? null,
      limit: a.limit ?? null,
      failed: r.totals.failed,
      succeeded: r.totals.succeeded,
      pending: r.totals.pending,
      targetVersion: r.targetVersion,
      failuresByCause: failures.map((g) => `${g.cause}=${g.count}`).join(', '),
    },
  };
}

/** A rollout that went through every stage but left failed devices behind; undefined when none failed. */
export function rolloutFailuresAlert(r: EndedRollout): AlertInput | undefined {
  if (r.totals.failed === 0) return undefined;
  const failures = r.failures ?? [];
  return {
    alertName: 'RolloutCompletedWithFailures',
    level: 2,
    dedupeKey: rolloutAlertKey('RolloutCompletedWithFailures', r.rolloutId),
    summary: truncate(
      `${name(r)} completed with ${r.totals.failed} failed of ${r.deviceCount} devices ` +
        `(${r.totals.succeeded} succeeded, ${r.totals.skipped} skipped), below its abort criteria.` +
        (failures.length ? ` Failures by cause: ${describeFailures(failures)}.` : ''),
      SUMMARY_MAX,
    ),
    since: Date.parse(r.finishedAt ?? r.createdAt),
    tried: ['devices that failed their health window were rolled back by their agent'],
    nextAction: `\`fleetmedic rollout status ${r.rolloutId}\` lists the failed devices; fix each (\`fleetmedic device <id>\`) or roll a fix out to them.`,
    details: {
      rolloutId: r.rolloutId,
      failed: r.totals.failed,
      succeeded: r.totals.succeeded,
      skipped: r.totals.skipped,
      targetVersion: r.targetVersion,
      failuresByCause: failures.map((g) => `${g.cause}=${g.count}`).join(', '),
    },
  };
}
