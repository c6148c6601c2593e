/**
 * CloudWatch alarm state changes (published to the alert topic) as alert events.
 * Part of the alert policy (functions/domain/alerting/): what an alert says, when it is sent, when it is
 * suppressed, how many devices failing together become one message, and when a "resolved" message goes out.
 * Pure: no AWS, `now` (epoch ms) is an argument.
 */
import * as z from 'zod/mini';
import { ALERT_NAMES, NEXT_ACTION, runbookLink, severityForLevel } from './catalogue.js';
import { ALERT_SCHEMA, AlertEvent } from './event.js';
import { truncate } from './format.js';

/**
 * CloudWatch alarms (HighJobFailureRate, JobsStuckInQueue, HighHTTPLatency, DeadLetters, RunnerDown, ApiServerErrors,
 * DynamoThrottles, DynamoSystemErrors) publish to the same
 * topic; their state-change JSON becomes an AlertEvent so Slack shows them in the same format.
 */
export function fromCloudWatchAlarm(
  msg: unknown,
  meta: { notificationId: string; now: number; runbookBase?: string },
): AlertEvent | undefined {
  const parsed = CloudWatchAlarmMessage.safeParse(msg);
  if (!parsed.success) return undefined;
  const m = parsed.data;
  const alertName =
    ALERT_NAMES.find((n) => m.AlarmName === n || m.AlarmName.endsWith(`-${n}`) || m.AlarmName.includes(n)) ?? undefined;
  if (!alertName) return undefined;
  const firing = m.NewStateValue === 'ALARM';
  // Slowness is manual intervention; a stopped schedule, failing API or store is an engineering escalation.
  const level: 2 | 3 = alertName === 'HighHTTPLatency' || alertName === 'DynamoThrottles' ? 2 : 3;
  const at = Date.parse(m.StateChangeTime ?? '') || meta.now;
  return AlertEvent.parse({
    schema: ALERT_SCHEMA,
    notificationId: meta.notificationId,
    status: firing ? 'firing' : 'resolved',
    alertName,
    severity: firing ? severityForLevel(level) : 'INFO',
    level,
    dedupeKey: `alarm:${m.AlarmName}`,
    summary: truncate(`${m.AlarmName}: ${m.NewStateReason ?? m.NewStateValue}`, 1000),
    since: new Date(at).toISOString(),
    tried: [],
    runbook: runbookLink(alertName, meta.runbookBase),
    nextAction: firing ? NEXT_ACTION[alertName] : 'Nothing to do.',
    raisedAt: new Date(meta.now).toISOString(),
    details: { alarm: m.AlarmName, state: m.NewStateValue },
  });
}

const CloudWatchAlarmMessage = z.object({
  AlarmName: z.string().check(z.minLength(1)),
  NewStateValue: z.enum(['ALARM', 'OK', 'INSUFFICIENT_DATA']),
  NewStateReason: z.optional(z.string()),
  StateChangeTime: z.optional(z.string()),
});
