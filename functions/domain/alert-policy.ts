/**
 * Alert policy: what an alert says, when it is sent, when it is suppressed, how many devices failing together
 * become one message, and when a "resolved" message goes out. Pure: no AWS, `now` (epoch ms) is an argument.
 *
 * Escalation levels follow docs/runbook.md:
 *   level 1  automated recovery   – circuit breakers, retries, recovery jobs. No page: never published.
 *   level 2  manual intervention  – a person must restart/reset/clear something.  Severity WARNING.
 *   level 3  engineering escalation – code/infrastructure change needed, or a fleet-wide outage. Severity CRITICAL.
 * Resolved messages are INFO.
 *
 * Dedupe/cooldown semantics (Alertmanager's repeat_interval, plus flap damping):
 *   - first raise of a key notifies and starts a cooldown;
 *   - raises of a firing key within its cooldown are suppressed and counted; after the cooldown a still-firing
 *     key is notified again ("still failing, N suppressed");
 *   - a higher severity than the one last notified is never suppressed (escalation must get through);
 *   - resolving a notified key sends one resolved message; a key that re-fires within the cooldown after being
 *     resolved (a flapping service) is re-opened silently, and resolving it again sends nothing: one alert and
 *     one resolved message per cooldown, however often it flaps.
 */
import * as z from 'zod/mini';

// ---------------------------------------------------------------- names, severities, runbook

/** Every alert Fleetmedic sends; each has a section with this anchor in docs/runbook.md. */
export const ALERT_NAMES = [
  'DeviceOffline',
  'ServiceCrashLoop',
  'ServiceImagePullBackOff',
  'ServiceUnhealthy',
  'RecoveryFailed',
  'CircuitOpen',
  'JobEscalated',
  'HighJobFailureRate',
  'JobsStuckInQueue',
  'HighHTTPLatency',
  'DeadLetters',
] as const;
export const AlertName = z.enum(ALERT_NAMES);
export type AlertName = z.infer<typeof AlertName>;

export const Severity = z.enum(['CRITICAL', 'WARNING', 'INFO']);
export type Severity = z.infer<typeof Severity>;
export type EscalationLevel = 1 | 2 | 3;

const SEVERITY_RANK: Record<Severity, number> = { INFO: 0, WARNING: 1, CRITICAL: 2 };
export const severityRank = (s: Severity) => SEVERITY_RANK[s];

/** Level 1 is never published; only levels 2 and 3 reach people. */
export function severityForLevel(level: EscalationLevel): Severity {
  return level === 3 ? 'CRITICAL' : level === 2 ? 'WARNING' : 'INFO';
}

/** GitHub-style heading anchor: `## DeviceOffline` → `#deviceoffline`. */
export function runbookLink(name: AlertName, base = 'docs/runbook.md'): string {
  return `${base}#${name.toLowerCase()}`;
}

/** The default next step per alert, phrased as a command on-call can run. */
export const NEXT_ACTION: Record<AlertName, string> = {
  DeviceOffline: 'Check power/network at the site; `fleetmedic device <id>` shows the last report.',
  ServiceCrashLoop: 'Read the service logs on the device; `fleetmedic device <id>` shows restarts and the last error.',
  ServiceImagePullBackOff: 'Fix the image reference or registry credentials in the target state, then `fleetmedic device <id>`.',
  ServiceUnhealthy: 'Check the health-check endpoint and the service logs; `fleetmedic device <id>`.',
  RecoveryFailed: 'Recover by hand (resources, config); silence with `fleetmedic silence` while working on it.',
  CircuitOpen: 'Find why commands fail on this device; `fleetmedic circuit reset <id>` once fixed.',
  JobEscalated: 'Inspect the job history (`fleetmedic device <id>`), fix the cause, re-enqueue the command.',
  HighJobFailureRate: 'Group failures with `fleetmedic dlq list`; look for one failing device or image.',
  JobsStuckInQueue: 'Check the outbox publisher and dispatcher logs; `fleetmedic dlq list`.',
  HighHTTPLatency: 'Check DynamoDB throttling and Lambda duration; see the runbook.',
  DeadLetters: 'Inspect with `fleetmedic dlq list`, fix the cause, then `fleetmedic dlq redrive`.',
};

/** The default next step; the generic advice names `<id>`, so a page about one device says which. */
export function nextActionFor(alertName: AlertName, deviceId?: string): string {
  return deviceId ? NEXT_ACTION[alertName].replaceAll('<id>', deviceId) : NEXT_ACTION[alertName];
}

// ---------------------------------------------------------------- the event on the wire (SNS message body)

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
  details?: Record<string, string | number | boolean | null>;
  /** Override only when one device/service can have two independent alerts of the same name. */
  dedupeKey?: string;
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
    details: input.details ?? {},
  });
}

// ---------------------------------------------------------------- dedupe / cooldown decisions

export interface AlertPolicyConfig {
  /** Re-notify a still-firing key at most this often; a resolved key re-firing within it is a flap. */
  cooldownMs: number;
  /** Alertmanager group_wait: how long a group collects members before its one message goes out. */
  groupWaitMs: number;
  /** Members listed by name in a grouped message. */
  groupSampleSize: number;
  /** This many devices offline in one group is a fleet-wide outage: engineering escalation (level 3). */
  fleetOutageThreshold: number;
  /** Dedupe records outlive their cooldown by this much (TTL), so flaps across the cooldown edge still count. */
  recordRetentionMs: number;
}

export const DEFAULT_ALERT_POLICY: AlertPolicyConfig = {
  cooldownMs: 30 * 60_000,
  groupWaitMs: 60_000,
  groupSampleSize: 10,
  fleetOutageThreshold: 10,
  recordRetentionMs: 24 * 3600_000,
};

/** The dedupe record kept per key (ALERTS_TABLE). Times are epoch ms. */
export interface AlertRecord {
  dedupeKey: string;
  alertName: AlertName;
  state: 'firing' | 'resolved';
  severity: Severity;
  /** Optimistic-concurrency version; every write increments it. */
  version: number;
  firstRaisedAt: number;
  lastRaisedAt: number;
  /** When the last firing notification went out (or the key joined a group). */
  lastNotifiedAt: number;
  cooldownUntil: number;
  /** Raises suppressed since the last notification. */
  suppressedCount: number;
  /** Times the key re-fired silently inside its cooldown after a resolution. */
  flaps: number;
  /** The last notification about this key said "firing" (so a resolution must be announced). */
  notifiedFiring: boolean;
  /** Set when the key was announced as part of a grouped message rather than on its own. */
  group?: { key: string; windowId: string };
  deviceId?: string;
  service?: string;
}

export type RaiseDecision =
  | { action: 'notify'; record: AlertRecord; repeat: boolean; suppressedCount: number; escalated: boolean }
  | { action: 'group'; record: AlertRecord; groupKey: string }
  | { action: 'suppress'; record: AlertRecord; reason: 'cooldown' | 'flapping' };

/** Alerts that are collected into one message when many arrive together. */
export function groupKeyFor(input: Pick<AlertInput, 'alertName'>): string | undefined {
  // Many devices going dark at once is one incident (site power, network, our API), not N pages.
  return input.alertName === 'DeviceOffline' ? 'DeviceOffline' : undefined;
}

export function decideRaise(
  prev: AlertRecord | undefined,
  input: AlertInput,
  now: number,
  policy: AlertPolicyConfig = DEFAULT_ALERT_POLICY,
): RaiseDecision {
  const severity = severityForLevel(input.level);
  const dedupeKey = input.dedupeKey ?? dedupeKeyFor(input);
  const groupKey = groupKeyFor(input);
  const base: AlertRecord = prev
    ? { ...prev, version: prev.version + 1, lastRaisedAt: now }
    : {
        dedupeKey,
        alertName: input.alertName,
        state: 'firing',
        severity,
        version: 1,
        firstRaisedAt: now,
        lastRaisedAt: now,
        lastNotifiedAt: 0,
        cooldownUntil: 0,
        suppressedCount: 0,
        flaps: 0,
        notifiedFiring: false,
        deviceId: input.deviceId,
        service: input.service,
      };
  const escalated = !!prev && severityRank(severity) > severityRank(prev.severity);
  const coolingDown = !!prev && now < prev.cooldownUntil;

  if (prev && coolingDown && !escalated) {
    if (prev.state === 'firing') {
      return { action: 'suppress', reason: 'cooldown', record: { ...base, suppressedCount: prev.suppressedCount + 1 } };
    }
    // Resolved a moment ago and failing again: a flap. Re-open quietly; the cooldown's end re-notifies if it stays.
    return {
      action: 'suppress',
      reason: 'flapping',
      record: { ...base, state: 'firing', flaps: prev.flaps + 1, suppressedCount: prev.suppressedCount + 1 },
    };
  }

  const opened: AlertRecord = {
    ...base,
    state: 'firing',
    severity,
    firstRaisedAt: prev?.state === 'firing' ? prev.firstRaisedAt : now,
    flaps: prev?.state === 'firing' ? prev.flaps : 0,
    lastNotifiedAt: now,
    cooldownUntil: now + policy.cooldownMs,
    suppressedCount: 0,
  };
  if (groupKey && !escalated) {
    // Announced by the group's message; the record remembers which window to count down on resolution.
    return { action: 'group', groupKey, record: { ...opened, notifiedFiring: false } };
  }
  return {
    action: 'notify',
    record: { ...opened, notifiedFiring: true, group: undefined },
    repeat: prev?.state === 'firing' && !escalated,
    suppressedCount: prev?.suppressedCount ?? 0,
    escalated,
  };
}

export type ResolveDecision =
  | { action: 'none' }
  | { action: 'silent'; record: AlertRecord }
  | { action: 'notify-resolved'; record: AlertRecord; firingForMs: number; flaps: number }
  | { action: 'group-member'; record: AlertRecord; group: { key: string; windowId: string } };

export function decideResolve(prev: AlertRecord | undefined, now: number): ResolveDecision {
  if (!prev || prev.state === 'resolved') return { action: 'none' };
  // The cooldown is kept: a re-fire right after this resolution is a flap and stays quiet.
  const record: AlertRecord = { ...prev, state: 'resolved', version: prev.version + 1, notifiedFiring: false, suppressedCount: 0 };
  if (prev.group) return { action: 'group-member', record: { ...record, group: undefined }, group: prev.group };
  if (!prev.notifiedFiring) return { action: 'silent', record };
  return { action: 'notify-resolved', record, firingForMs: now - prev.firstRaisedAt, flaps: prev.flaps };
}

export function resolvedEvent(
  prev: AlertRecord,
  meta: { notificationId: string; now: number; runbookBase?: string; summary?: string },
): AlertEvent {
  const flapped = prev.flaps > 0 ? ` (flapped ${prev.flaps}× within the cooldown)` : '';
  return AlertEvent.parse({
    schema: ALERT_SCHEMA,
    notificationId: meta.notificationId,
    status: 'resolved',
    alertName: prev.alertName,
    severity: 'INFO',
    level: prev.severity === 'CRITICAL' ? 3 : 2,
    dedupeKey: prev.dedupeKey,
    deviceId: prev.deviceId,
    service: prev.service,
    summary: meta.summary ?? `${describeTarget(prev)} recovered after ${formatDuration(meta.now - prev.firstRaisedAt)}${flapped}`,
    since: new Date(prev.firstRaisedAt).toISOString(),
    tried: [],
    runbook: runbookLink(prev.alertName, meta.runbookBase),
    nextAction: 'Nothing to do.',
    raisedAt: new Date(meta.now).toISOString(),
    suppressedCount: prev.suppressedCount,
    repeat: false,
    details: { firingForSeconds: Math.round((meta.now - prev.firstRaisedAt) / 1000), flaps: prev.flaps },
  });
}

// ---------------------------------------------------------------- grouping (Alertmanager group_wait)

/** One group window as stored: members collected until `flushAt`, then one message. */
export interface GroupWindow {
  groupKey: string;
  windowId: string;
  alertName: AlertName;
  openedAt: number;
  flushAt: number;
  lastAt: number;
  /** Members that joined. */
  memberCount: number;
  /** Members still failing (joins minus resolutions). */
  openCount: number;
  /** Highest member level. */
  maxLevel: 2 | 3;
  sample: GroupSampleMember[];
  version: number;
}

export type FlushDecision = { action: 'wait' } | { action: 'drop'; reason: string } | { action: 'publish' };

export function decideFlush(w: GroupWindow, now: number): FlushDecision {
  if (now < w.flushAt) return { action: 'wait' };
  // Every member came back before the group was announced: a blip, nobody needs to hear about it.
  if (w.openCount <= 0) return { action: 'drop', reason: 'all members resolved within group_wait' };
  return { action: 'publish' };
}

export function groupLevel(w: Pick<GroupWindow, 'memberCount' | 'maxLevel' | 'alertName'>, policy: AlertPolicyConfig = DEFAULT_ALERT_POLICY): 2 | 3 {
  if (w.alertName === 'DeviceOffline' && w.memberCount >= policy.fleetOutageThreshold) return 3;
  return w.maxLevel;
}

/** The one message for a group window. A group of one reads like a single alert. */
export function groupedEvent(
  w: GroupWindow,
  meta: { now: number; runbookBase?: string },
  policy: AlertPolicyConfig = DEFAULT_ALERT_POLICY,
): AlertEvent {
  const level = groupLevel(w, policy);
  const single = w.memberCount === 1 && w.sample.length === 1 ? w.sample[0] : undefined;
  const names = w.sample.map((m) => m.deviceId ?? m.service ?? '?');
  const more = w.memberCount > names.length ? ` and ${w.memberCount - names.length} more` : '';
  const summary =
    w.alertName === 'DeviceOffline'
      ? single
        ? `Device ${single.deviceId} stopped reporting`
        : `${w.memberCount} devices stopped reporting within ${formatDuration(w.lastAt - w.openedAt || 0)}: ${names.join(', ')}${more}`
      : single
        ? `${w.alertName} on ${single.deviceId ?? single.service}`
        : `${w.memberCount}× ${w.alertName}: ${names.join(', ')}${more}`;
  const nextAction =
    level === 3 && w.alertName === 'DeviceOffline'
      ? 'Many devices at once: suspect the network, a site, or the control plane (check the API and `fleetmedic devices`) before single devices.'
      : nextActionFor(w.alertName, single?.deviceId);
  return AlertEvent.parse({
    schema: ALERT_SCHEMA,
    notificationId: `group:${w.groupKey}:${w.windowId}`,
    status: 'firing',
    alertName: w.alertName,
    severity: severityForLevel(level),
    level,
    dedupeKey: `group:${w.groupKey}`,
    deviceId: single?.deviceId,
    service: single?.service,
    summary,
    since: new Date(Math.min(w.openedAt, ...w.sample.map((m) => Date.parse(m.since)))).toISOString(),
    tried: w.alertName === 'DeviceOffline' ? ['waited for the offline threshold (no report in 3 heartbeat intervals)'] : [],
    runbook: runbookLink(w.alertName, meta.runbookBase),
    nextAction,
    raisedAt: new Date(meta.now).toISOString(),
    suppressedCount: 0,
    repeat: false,
    group: {
      key: w.groupKey,
      count: w.memberCount,
      sample: w.sample,
      firstAt: new Date(w.openedAt).toISOString(),
      lastAt: new Date(w.lastAt).toISOString(),
    },
    details: { stillFailing: w.openCount },
  });
}

export function groupResolvedEvent(w: GroupWindow, meta: { now: number; runbookBase?: string }): AlertEvent {
  return AlertEvent.parse({
    schema: ALERT_SCHEMA,
    notificationId: `group-resolved:${w.groupKey}:${w.windowId}`,
    status: 'resolved',
    alertName: w.alertName,
    severity: 'INFO',
    level: w.maxLevel,
    dedupeKey: `group:${w.groupKey}`,
    summary:
      w.alertName === 'DeviceOffline'
        ? `All ${w.memberCount} devices of the group that went offline at ${new Date(w.openedAt).toISOString()} are reporting again`
        : `All ${w.memberCount} ${w.alertName} alerts of the group recovered`,
    since: new Date(w.openedAt).toISOString(),
    tried: [],
    runbook: runbookLink(w.alertName, meta.runbookBase),
    nextAction: 'Nothing to do.',
    raisedAt: new Date(meta.now).toISOString(),
    group: {
      key: w.groupKey,
      count: w.memberCount,
      sample: w.sample,
      firstAt: new Date(w.openedAt).toISOString(),
      lastAt: new Date(w.lastAt).toISOString(),
    },
    details: { resolvedAfterSeconds: Math.round((meta.now - w.openedAt) / 1000) },
  });
}

// ---------------------------------------------------------------- alert builders used across the control plane

export function deviceOfflineAlert(a: { deviceId: string; lastSeenEpochMs: number; offlineAfterMs: number; correlationId?: string }): AlertInput {
  return {
    alertName: 'DeviceOffline',
    level: 2,
    deviceId: a.deviceId,
    summary: `Device ${a.deviceId} has not reported since ${new Date(a.lastSeenEpochMs).toISOString()}`,
    since: a.lastSeenEpochMs,
    tried: [`waited ${Math.round(a.offlineAfterMs / 1000)} s (3 heartbeat intervals) for a report`],
    correlationId: a.correlationId,
  };
}

export const circuitAlertKey = (deviceId: string) => dedupeKeyFor({ alertName: 'CircuitOpen', deviceId });

export function circuitOpenAlert(a: {
  deviceId: string;
  openedAtMs: number;
  consecutiveFailures: number;
  openCount: number;
  retryAtMs?: number;
  correlationId?: string;
}): AlertInput {
  return {
    alertName: 'CircuitOpen',
    // A circuit that keeps re-opening means the automated probe keeps failing: past manual, needs engineering.
    level: a.openCount >= 3 ? 3 : 2,
    deviceId: a.deviceId,
    summary: `Circuit breaker of ${a.deviceId} is open after ${a.consecutiveFailures} consecutive failures (opened ${a.openCount}×)`,
    since: a.openedAtMs,
    tried: ['commands held while open', ...(a.retryAtMs ? [`half-open probe at ${new Date(a.retryAtMs).toISOString()}`] : [])],
    correlationId: a.correlationId,
    details: { consecutiveFailures: a.consecutiveFailures, openCount: a.openCount },
  };
}

/** For the job queue's ESCALATE strategy: a job that exhausted its policy. Engineering escalation. */
export function jobEscalatedAlert(a: {
  jobId: string;
  deviceId: string;
  type: string;
  service?: string;
  attempts: number;
  lastError?: string;
  firstAttemptAtMs: number;
  correlationId?: string;
  level?: 2 | 3;
}): AlertInput {
  return {
    alertName: 'JobEscalated',
    level: a.level ?? 3,
    deviceId: a.deviceId,
    service: a.service,
    // One job per key: two escalated jobs on one device are two problems.
    dedupeKey: `JobEscalated:${a.deviceId}:${a.jobId}`,
    summary: `Job ${a.type} (${a.jobId}) on ${a.deviceId} failed ${a.attempts}×${a.lastError ? `: ${truncate(a.lastError, 300)}` : ''}`,
    since: a.firstAttemptAtMs,
    tried: [`${a.type} attempted ${a.attempts}× per its retry policy`],
    correlationId: a.correlationId,
    details: { jobId: a.jobId, jobType: a.type, attempts: a.attempts },
  };
}

/**
 * CloudWatch alarms (HighJobFailureRate, JobsStuckInQueue, HighHTTPLatency, DeadLetters) publish to the same
 * topic; their state-change JSON becomes an AlertEvent so Slack shows them in the same format.
 */
export function fromCloudWatchAlarm(msg: unknown, meta: { notificationId: string; now: number; runbookBase?: string }): AlertEvent | undefined {
  const parsed = CloudWatchAlarmMessage.safeParse(msg);
  if (!parsed.success) return undefined;
  const m = parsed.data;
  const alertName = ALERT_NAMES.find((n) => m.AlarmName === n || m.AlarmName.endsWith(`-${n}`) || m.AlarmName.includes(n)) ?? undefined;
  if (!alertName) return undefined;
  const firing = m.NewStateValue === 'ALARM';
  const level: 2 | 3 = alertName === 'HighHTTPLatency' ? 2 : 3;
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

// ---------------------------------------------------------------- small helpers

function describeTarget(r: { deviceId?: string; service?: string; alertName: AlertName }): string {
  if (r.service && r.deviceId) return `${r.service} on ${r.deviceId}`;
  return r.deviceId ?? r.service ?? r.alertName;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 ? ` ${s % 60}s` : ''}`;
  const h = Math.floor(m / 60);
  return `${h}h${m % 60 ? ` ${m % 60}m` : ''}`;
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** Plain text for email subscribers of the topic, in the shape of the notification format. */
export function plainTextAlert(e: AlertEvent, opts: { runbookBaseUrl?: string } = {}): string {
  const runbook = /^https?:\/\//.test(e.runbook) || !opts.runbookBaseUrl ? e.runbook : `${opts.runbookBaseUrl.replace(/\/+$/, '')}/${e.runbook}`;
  const lines = [
    `${e.status === 'resolved' ? 'RESOLVED' : e.severity} ${e.alertName}`,
    `Priority: ${e.severity} (level ${e.level})`,
    '',
    e.summary,
    '',
  ];
  if (e.deviceId) lines.push(`Device: ${e.deviceId}`);
  if (e.service) lines.push(`Service: ${e.service}`);
  lines.push(`Since: ${e.since}`);
  if (e.group) lines.push(`Affected: ${e.group.count} (sample: ${e.group.sample.map((m) => m.deviceId ?? m.service).join(', ')})`);
  if (e.tried.length) lines.push('Tried:', ...e.tried.map((t) => `  - ${t}`));
  if (e.status === 'firing') lines.push(`Action required: ${e.nextAction}`);
  if (e.suppressedCount) lines.push(`Suppressed duplicates: ${e.suppressedCount}`);
  lines.push(`Runbook: ${runbook}`, `Key: ${e.dedupeKey}`);
  if (e.correlationId) lines.push(`Correlation id: ${e.correlationId}`);
  return lines.join('\n');
}
