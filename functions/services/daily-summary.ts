/**
 * The daily summary to Slack (docs/runbook.md "DailySummary"): run by the health evaluator every minute; once the
 * configured local time has passed, the first run claims the day and sends one message through the alert path
 * (SNS topic → Slack forwarder), at level 1 / INFO so no pager or warning route takes it.
 *
 * Every figure comes from keys, never from a scan over the fleet: offline devices from the sparse byOffline index,
 * service errors, circuits opened and finished rollouts from the events' byType index over the last 24 h (cost
 * follows the number of such events), recoveries from the hourly counters, dead letters from the queues' depth.
 */
import { claimSummaryDay, releaseSummaryDay } from '../adapters/summary-claims.js';
import { countOfflineDevices } from '../adapters/devices-repo.js';
import { countEventsOfTypeSince, eventsOfTypeSince } from '../adapters/events.js';
import { queueDepth } from '../adapters/dlq.js';
import { publishAlertEvent } from '../adapters/alert-publication.js';
import { toAlertEvent } from '../domain/alerting/event.js';
import { allClear, dueSummaryDay, summaryText, type SummaryFacts } from '../domain/daily-summary.js';
import { SERVICE_ERROR_EVENT } from '../domain/error-history.js';
import { config } from '../lib/config.js';
import { logger } from '../lib/observability.js';
import { recoveryStats } from './recovery-stats.js';

const DAY_MS = 86_400_000;
const WORST_DEVICES = 5;

export type SummaryOutcome =
  | { action: 'not-due' | 'already-sent' }
  | { action: 'sent' | 'silent'; day: string; text: string; facts: SummaryFacts };

/**
 * The last day this container saw claimed (by itself or another run): a warm evaluator then skips the claim's
 * conditional write on every later minute of that day instead of failing it ~1,400 times. A cold one tries once.
 */
let knownClaimedDay: string | undefined;

export async function maybeSendDailySummary(now: number, settings = config.dailySummary): Promise<SummaryOutcome> {
  const day = dueSummaryDay(now, settings);
  if (!day) return { action: 'not-due' };
  if (day === knownClaimedDay) return { action: 'already-sent' };
  const claimed = await claimSummaryDay(day, now);
  knownClaimedDay = day;
  if (!claimed) return { action: 'already-sent' };
  try {
    const facts = await gatherFacts(day, settings.timezone, now);
    const text = summaryText(facts);
    if (allClear(facts) && settings.allClear === 'silent') return { action: 'silent', day, text, facts };
    const event = toAlertEvent(
      { alertName: 'DailySummary', level: 2, summary: text, since: now - DAY_MS, dedupeKey: `DailySummary:${day}` },
      { notificationId: `daily-summary-${day}`, now, runbookBase: config.runbookBaseUrl },
    );
    // Level 1 / INFO: Slack gets every alert event; the pager and warning routes filter on levels 3 and 2.
    await publishAlertEvent({ ...event, level: 1, severity: 'INFO' });
    logger.info('daily summary sent', { day });
    return { action: 'sent', day, text, facts };
  } catch (err) {
    knownClaimedDay = undefined;
    await releaseSummaryDay(day).catch(() => {});
    throw err;
  }
}

export async function gatherFacts(day: string, timezone: string, now: number): Promise<SummaryFacts> {
  const since = new Date(now - DAY_MS).toISOString();
  const [devicesOffline, errors, circuitsOpened, completed, aborted, [recoveries], jobsDlq, alertsDlq] =
    await Promise.all([
      countOfflineDevices(),
      eventsOfTypeSince(SERVICE_ERROR_EVENT, since),
      countEventsOfTypeSince('circuit.opened', since),
      countEventsOfTypeSince('rollout.completed', since),
      countEventsOfTypeSince('rollout.aborted', since),
      recoveryStats({ now, sinceSeconds: DAY_MS / 1000 }),
      queueDepth(config.jobsDlqUrl),
      queueDepth(config.alertsDlqUrl),
    ]);
  const errorsByType: Record<string, number> = {};
  const perDevice = new Map<string, number>();
  for (const e of errors) {
    if (e.detail.change === 'cleared') continue;
    const type = String(e.detail.type);
    errorsByType[type] = (errorsByType[type] ?? 0) + 1;
    if (e.deviceId) perDevice.set(e.deviceId, (perDevice.get(e.deviceId) ?? 0) + 1);
  }
  const worstDevices = [...perDevice.entries()]
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
    .slice(0, WORST_DEVICES)
    .map(([deviceId, n]) => ({ deviceId, errors: n }));
  const r = recoveries!;
  return {
    day,
    timezone,
    devicesOffline,
    errorsByType,
    worstDevices,
    recoveries: {
      attempts: r.total.attempts,
      succeeded: r.total.succeeded,
      successRate: r.total.successRate,
      byStrategy: r.strategies.map((s) => `${s.strategy} ${s.succeeded}/${s.attempts}`),
    },
    circuitsOpened,
    deadLetters: { jobs: jobsDlq.visible + jobsDlq.inFlight, alerts: alertsDlq.visible + alertsDlq.inFlight },
    rollouts: { completed, aborted },
  };
}
