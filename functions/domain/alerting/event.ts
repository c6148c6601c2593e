/**
 * The alert event on the wire (the SNS message body, schema `fleetmedic.alert.v1`), what callers hand to
 * `raiseAlert` (AlertInput), its stable dedupe key, and the event built from an input.
 * Part of the alert policy (functions/domain/alerting/): what an alert says, when it is sent, when it is
 * suppressed, how many devices failing together become one message, and when a "resolved" message goes out.
 * Pure: no AWS, `now` (epoch ms) is an argument.
 */
import * as z from 'zod/mini';
// Alerts are parsed here: their issue messages in English, not zod/mini's bare "Invalid input".
import '../../contract/zod-locale.js';
import { AlertName, Severity, nextActionFor, runbookLink, severityForLevel } from './catalogue.js';

export const ALERT_SCHEMA = 'fleetmedic.alert.v1';

const Iso = z.iso.datetime({ offset: true });

export const GroupSampleMember = z.strictObject({
  deviceId: z.optional(z.string().check(z.maxLength(128))),
  service: z.optional(z.string().check(z.maxLength(128))),
  since: Iso,
});
export type GroupSampleMember = z.output<typeof GroupSampleMember>;

export const AlertGroup = z.strictObject({
  key: z.string().check(z.minLength(1), z.maxLength(256)),
  /** How many alerts the group holds (all of them, not only the sample). */
  count: z.int().check(z.minimum(1)),
  sample: z.array(GroupSampleMember).check(z.maxLength(50)),
  firstAt: Iso,
  lastAt: Iso,
});
export type AlertGroup = z.output<typeof AlertGroup>;

export const AlertEvent = z.strictObject({
  schema: z.literal(ALERT_SCHEMA),
  /** Unique per publication (deterministic for grouped messages so a re-publish can be recognised). */
  notificationId: z.string().check(z.minLength(1), z.maxLength(200)),
  status: z.enum(['firing', 'resolved']),
  alertName: AlertName,
  severity: Severity,
  level: z.union([z.literal(1), z.literal(2), z.literal(3)]),
  /** Stable: built from alert name + device + service, never from text or time. */
  dedupeKey: z.string().check(z.minLength(1), z.maxLength(512)),
  deviceId: z.optional(z.string().check(z.maxLength(128))),
  service: z.optional(z.string().check(z.maxLength(128))),
  /** What failed, one line. */
  summary: z.string().check(z.minLength(1), z.maxLength(1000)),
  /** Since when the condition holds. */
  since: Iso,
  /** What was already tried (agent retries, cloud recovery jobs...). */
  tried: z._default(z.array(z.string().check(z.maxLength(500))).check(z.maxLength(30)), []),
  runbook: z.string().check(z.minLength(1), z.maxLength(500)),
  nextAction: z.string().check(z.minLength(1), z.maxLength(1000)),
  raisedAt: Iso,
  correlationId: z.optional(z.string().check(z.maxLength(128))),
  /** Raises of this key suppressed since the previous notification. */
  suppressedCount: z._default(z.int().check(z.minimum(0)), 0),
  /** A re-notification of a key that kept firing through its cooldown. */
  repeat: z._default(z.boolean(), false),
  group: z.optional(AlertGroup),
  /**
   * false: the service's target says `notifyOnFail: false`, so the alert stays off the pager (it is still recorded
   * and posted to Slack). Absent: page as the level says.
   */
  notifyOnFail: z.optional(z.boolean()),
  details: z._default(z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])), {}),
});
export type AlertEvent = z.output<typeof AlertEvent>;

/** What callers hand to `raiseAlert`: the facts; the policy fills severity, runbook, next action, key. */
export interface AlertInput {
  alertName: AlertName;
  /** 2 = manual intervention (WARNING), 3 = engineering escalation (CRITICAL). Level 1 never pages. */
  level: 2 | 3;
  deviceId?: string;
  service?: string;
  summary: string;
  /** epoch ms */
  since: number;
  tried?: string[];
  nextAction?: string;
  correlationId?: string;
  /** false keeps the alert off the pager (the service's target `notifyOnFail: false`). */
  notifyOnFail?: boolean;
  details?: Record<string, string | number | boolean | null>;
  /** Override only when one device/service can have two independent alerts of the same name. */
  dedupeKey?: string;
  /**
   * What failed, the same text on every device with the same problem (`ImagePullBackOff lab/web:9`): devices
   * raising one alert name with one cause together are announced as one group (domain/alerting/dedupe.ts).
   */
  cause?: string;
}

/** Stable dedupe key: the same failure of the same thing always maps to the same key. */
export function dedupeKeyFor(a: { alertName: AlertName; deviceId?: string; service?: string }): string {
  return [a.alertName, a.deviceId ?? '-', a.service ?? '-'].join(':');
}

export function toAlertEvent(
  input: AlertInput,
  meta: { notificationId: string; now: number; suppressedCount?: number; repeat?: boolean; runbookBase?: string },
): AlertEvent {
  return AlertEvent.parse({
    schema: ALERT_SCHEMA,
    notificationId: meta.notificationId,
    status: 'firing',
    alertName: input.alertName,
    severity: severityForLevel(input.level),
    level: input.level,
    dedupeKey: input.dedupeKey ?? dedupeKeyFor(input),
    deviceId: input.deviceId,
    service: input.service,
    summary: input.summary,
    since: new Date(input.since).toISOString(),
    tried: input.tried ?? [],
    runbook: runbookLink(input.alertName, meta.runbookBase),
    nextAction: input.nextAction ?? nextActionFor(input.alertName, input.deviceId),
    raisedAt: new Date(meta.now).toISOString(),
    correlationId: input.correlationId,
    suppressedCount: meta.suppressedCount ?? 0,
    repeat: meta.repeat ?? false,
    ...(input.notifyOnFail === false ? { notifyOnFail: false } : {}),
    details: input.details ?? {},
  });
}
