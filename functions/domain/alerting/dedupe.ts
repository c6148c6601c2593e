/**
 * Dedupe and cooldown decisions on one alert key's record, and the "resolved" message for it.
 * Part of the alert policy (functions/domain/alerting/): what an alert says, when it is sent, when it is
 * suppressed, how many devices failing together become one message, and when a "resolved" message goes out.
 * Pure: no AWS, `now` (epoch ms) is an argument.
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
import { severityForLevel, severityRank, runbookLink, type AlertName, type Severity } from './catalogue.js';
import { ALERT_SCHEMA, AlertEvent, dedupeKeyFor, type AlertInput } from './event.js';
import { formatDuration } from './format.js';

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
  /**
   * The group window a member left when it resolved. Re-firing in its cooldown (a flap) counts it back in if that
   * window is still collecting: otherwise a blip inside group_wait would leave a failing member unannounced.
   */
  leftGroup?: { key: string; windowId: string };
  deviceId?: string;
  service?: string;
  /** false: the last raise was for a service kept off the pager; its resolution stays off the pager too. */
  notifyOnFail?: boolean;
}

export type RaiseDecision =
  | { action: 'notify'; record: AlertRecord; repeat: boolean; suppressedCount: number; escalated: boolean }
  | {
      action: 'group';
      record: AlertRecord;
      groupKey: string;
      /** Still firing after its cooldown: a group of one says "still failing", as its own alert would. */
      repeat: boolean;
      suppressedCount: number;
    }
  | {
      action: 'suppress';
      record: AlertRecord;
      reason: 'cooldown' | 'flapping';
      /** A flap of a grouped member: count it back into this window if still open (else drop `record.group`). */
      rejoin?: { key: string; windowId: string };
    };

/** Per-device alerts that many devices raising with one cause (the same image failing to pull) makes one incident. */
export const CAUSE_GROUPED: ReadonlySet<AlertName> = new Set<AlertName>([
  'ServiceImagePullBackOff',
  'ServiceCrashLoop',
  'ServiceUnhealthy',
  'RecoveryFailed',
]);

/** The group of an alert name + cause (bounded: it is part of a storage key). */
export function causeGroupKey(input: Pick<AlertInput, 'alertName' | 'cause'>): string | undefined {
  if (!CAUSE_GROUPED.has(input.alertName) || !input.cause) return undefined;
  return `${input.alertName}:${input.cause.replace(/\s+/g, ' ').slice(0, 200)}`;
}

/**
 * Alerts that are collected into one message when many arrive together (Alertmanager's group_wait). Many devices
 * going dark at once is one incident (site power, network, our API), not N pages; so is one cause on many devices
 * (a bad image rolled out to 100 of them). The first member opens the window without a message, every member of
 * the group arriving within group_wait joins it, and the flush sends one message (a window of one reads like that
 * member's own alert: domain/alerting/groups.ts groupedEvent).
 */
export function groupKeyFor(input: Pick<AlertInput, 'alertName' | 'cause'>): string | undefined {
  if (input.alertName === 'DeviceOffline') return 'DeviceOffline';
  return causeGroupKey(input);
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
    const rejoin = prev.leftGroup;
    return {
      action: 'suppress',
      reason: 'flapping',
      record: {
        ...base,
        state: 'firing',
        flaps: prev.flaps + 1,
        suppressedCount: prev.suppressedCount + 1,
        group: rejoin,
        leftGroup: undefined,
      },
      ...(rejoin ? { rejoin } : {}),
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
    notifyOnFail: input.notifyOnFail === false ? false : undefined,
    leftGroup: undefined,
  };
  if (groupKey && !escalated) {
    // Announced by the group's message; the record remembers which window to count down on resolution.
    return {
      action: 'group',
      groupKey,
      record: { ...opened, notifiedFiring: false },
      repeat: prev?.state === 'firing',
      suppressedCount: prev?.suppressedCount ?? 0,
    };
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
  const record: AlertRecord = {
    ...prev,
    state: 'resolved',
    version: prev.version + 1,
    notifiedFiring: false,
    suppressedCount: 0,
  };
  if (prev.group) {
    return {
      action: 'group-member',
      record: { ...record, group: undefined, leftGroup: prev.group },
      group: prev.group,
    };
  }
  if (!prev.notifiedFiring) return { action: 'silent', record };
  return { action: 'notify-resolved', record, firingForMs: now - prev.firstRaisedAt, flaps: prev.flaps };
}

export function resolvedEvent(
  prev: Pick<
    AlertRecord,
    | 'dedupeKey'
    | 'alertName'
    | 'severity'
    | 'firstRaisedAt'
    | 'flaps'
    | 'suppressedCount'
    | 'deviceId'
    | 'service'
    | 'notifyOnFail'
  >,
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
    summary:
      meta.summary ??
      `${describeTarget(prev)} recovered after ${formatDuration(meta.now - prev.firstRaisedAt)}${flapped}`,
    since: new Date(prev.firstRaisedAt).toISOString(),
    tried: [],
    runbook: runbookLink(prev.alertName, meta.runbookBase),
    nextAction: 'Nothing to do.',
    raisedAt: new Date(meta.now).toISOString(),
    suppressedCount: prev.suppressedCount,
    repeat: false,
    ...(prev.notifyOnFail === false ? { notifyOnFail: false } : {}),
    details: { firingForSeconds: Math.round((meta.now - prev.firstRaisedAt) / 1000), flaps: prev.flaps },
  });
}

function describeTarget(r: { deviceId?: string; service?: string; alertName: AlertName }): string {
  if (r.service && r.deviceId) return `${r.service} on ${r.deviceId}`;
  return r.deviceId ?? r.service ?? r.alertName;
}
