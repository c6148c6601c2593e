/**
 * On-call hears about a rollout that ended badly, once (docs/runbook.md "RolloutAborted",
 * "RolloutCompletedWithFailures"): an abort by a criterion, or a completion that left failed devices.
 *
 * Once, across concurrent controllers, retries and crashes: the alert's dedupe key names the rollout (two runs
 * raising it at once notify once, the alert record suppresses the other), and the rollout remembers it was
 * announced (`alertedAt`, written once), so no later run raises it again even after the alert's cooldown. A run
 * that died between the rollout's final status and the alert leaves the rollout on the controller's work list
 * (the alert goes out before the rollout leaves it), and the next run announces it.
 */
import { deviceRecords, markAlerted, type Rollout } from '../adapters/rollouts-repo.js';
import { rolloutCounts } from '../domain/rollouts/controller.js';
import { rolloutAbortedAlert, rolloutFailuresAlert, type FailureGroup } from '../domain/rollouts/alerts.js';
import type { AlertInput } from '../domain/alerting/event.js';
import { logger } from '../lib/observability.js';
import { raiseAlert } from './alerts.js';

/** Failed devices named per cause. */
const FAILURE_SAMPLE = 5;

/** The failed devices of the started stages, grouped by cause (and the error they reported), with a sample. */
export async function failuresByCause(r: Rollout): Promise<FailureGroup[]> {
  const groups = new Map<string, FailureGroup>();
  for (const stage of r.stages) {
    if (stage.startedAt === undefined || stage.counts.failed === 0) continue;
    for (const d of await deviceRecords(r.rolloutId, stage.start, stage.end)) {
      if (d.status !== 'failed') continue;
      const cause = `${d.cause ?? 'unknown'}${d.reason ? ` · ${d.reason}` : ''}`;
      const g = groups.get(cause) ?? { cause, count: 0, sample: [] };
      g.count++;
      if (g.sample.length < FAILURE_SAMPLE)
        g.sample.push({ deviceId: d.deviceId, ...(d.detail ? { detail: d.detail } : {}) });
      groups.set(cause, g);
    }
  }
  return [...groups.values()].sort((a, b) => b.count - a.count);
}

/** Raise the rollout's end alert if it needs one and it was not raised yet. */
export async function announceRolloutEnd(r: Rollout, now: number): Promise<void> {
  if (r.alertedAt) return;
  const totals = rolloutCounts(r.stages);
  const ended = {
    rolloutId: r.rolloutId,
    ...(r.description ? { description: r.description } : {}),
    createdAt: r.createdAt,
    deviceCount: r.deviceCount,
    targetVersion: r.target?.version ?? `job ${r.job?.type ?? '?'}`,
    onAbort: r.onAbort,
    ...(r.abort ? { abort: r.abort } : {}),
    totals,
    ...(r.finishedAt ? { finishedAt: r.finishedAt } : {}),
  };
  let alert: AlertInput | undefined;
  if (r.abort && (r.status === 'aborted' || r.status === 'rolling-back')) alert = rolloutAbortedAlert(ended);
  else if (r.status === 'completed' && totals.failed > 0)
    alert = rolloutFailuresAlert({ ...ended, failures: await failuresByCause(r) });
  if (!alert) return;
  const raised = await raiseAlert({ ...alert, correlationId: r.rolloutId }, { now });
  await markAlerted(r.rolloutId, new Date(now).toISOString());
  logger.info('rollout end announced', { rolloutId: r.rolloutId, alertName: alert.alertName, action: raised.action });
}
