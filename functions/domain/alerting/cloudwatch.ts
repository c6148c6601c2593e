/**
 * CloudWatch alarm state changes (published to the alert topic) as alert events.
 * Part of the alert policy (functions/domain/alerting/): what an alert says, when it is sent, when it is
 * suppressed, how many devices failing together become one message, and when a "resolved" message goes out.
 * Pure: no AWS, `now` (epoch ms) is an argument.
 */
import * as z from 'zod/mini';
import { ALERT_NAMES, type AlertName, NEXT_ACTION, runbookLink, severityForLevel } from './catalogue.js';
import { ALERT_SCHEMA, AlertEvent } from './event.js';
import { truncate } from './format.js';

/**
 * The stack's CloudWatch alarms (cdk/lib/observability.ts, named `fleetmedic-<stage>-<name>[-<function|table>]`)
 * publish to the same topic; their state-change JSON becomes an AlertEvent so Slack shows them in the same format.
 * Per-function alarms are named `Errors-<function>` / `Throttles-<function>`; they become FunctionErrors /
 * FunctionThrottles. A well-formed alarm whose name the catalogue does not know is still posted, as PlatformAlarm: an
 * alarm nobody sees is worse than one with generic advice (the forwarder dead-letters only what it cannot read).
 */
export function fromCloudWatchAlarm(
  msg: unknown,
  meta: { notificationId: string; now: number; runbookBase?: string },
): AlertEvent | undefined {
  const parsed = CloudWatchAlarmMessage.safeParse(msg);
  if (!parsed.success) return undefined;
  const m = parsed.data;
  const alertName = alarmAlertName(m.AlarmName);
  const firing = m.NewStateValue === 'ALARM';
  const level: 2 | 3 = WARNING_ALARMS.has(alertName) ? 2 : 3;
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

/**
 * Slowness, throttling, a function's errors and an alarm we cannot name are manual intervention; a stopped schedule,
 * a failing API or store and a fleet-wide outage are engineering escalations.
 */
const WARNING_ALARMS = new Set<AlertName>([
  'HighHTTPLatency',
  'DynamoThrottles',
  'FunctionErrors',
  'FunctionThrottles',
  'PlatformAlarm',
]);

/** Per-function alarms by their name's first part. */
const FUNCTION_ALARMS: ReadonlyArray<[string, AlertName]> = [
  ['Errors', 'FunctionErrors'],
  ['Throttles', 'FunctionThrottles'],
];

/** The catalogue name an alarm's name stands for (see the alarm names above). */
export function alarmAlertName(alarmName: string): AlertName {
  const known = ALERT_NAMES.find(
    (n) => n !== 'PlatformAlarm' && (alarmName === n || alarmName.endsWith(`-${n}`) || alarmName.includes(n)),
  );
  if (known) return known;
  const perFunction = FUNCTION_ALARMS.find(
    ([part]) => alarmName.startsWith(`${part}-`) || alarmName.includes(`-${part}-`),
  );
  return perFunction?.[1] ?? 'PlatformAlarm';
}

const CloudWatchAlarmMessage = z.object({
  AlarmName: z.string().check(z.minLength(1)),
  NewStateValue: z.enum(['ALARM', 'OK', 'INSUFFICIENT_DATA']),
  NewStateReason: z.optional(z.string()),
  StateChangeTime: z.optional(z.string()),
});
