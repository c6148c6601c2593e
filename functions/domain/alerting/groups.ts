/**
 * Group windows (Alertmanager's group_wait): many alerts of one kind arriving together become one message, and
 * one "resolved" message when the last of them recovers.
 * Part of the alert policy (functions/domain/alerting/): what an alert says, when it is sent, when it is
 * suppressed, how many devices failing together become one message, and when a "resolved" message goes out.
 * Pure: no AWS, `now` (epoch ms) is an argument.
 */
import { nextActionFor, runbookLink, severityForLevel, type AlertName } from './catalogue.js';
import { DEFAULT_ALERT_POLICY, resolvedEvent, type AlertPolicyConfig } from './dedupe.js';
import { ALERT_SCHEMA, AlertEvent, toAlertEvent, type AlertInput, type GroupSampleMember } from './event.js';
import { formatDuration } from './format.js';

/** A cause group's first member as raised, with its dedupe key and whether it repeats a still-firing alert. */
export type GroupFirstMember = AlertInput & { repeat?: boolean; suppressedCount?: number };

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
  /** A cause group's cause (domain/alerting/dedupe.ts causeGroupKey). */
  cause?: string;
  /** A cause group's first member as raised (with its dedupe key): a window of one is announced as its alert. */
  first?: GroupFirstMember;
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

export function groupLevel(
  w: Pick<GroupWindow, 'memberCount' | 'maxLevel' | 'alertName'>,
  policy: AlertPolicyConfig = DEFAULT_ALERT_POLICY,
): 2 | 3 {
  if (w.alertName === 'DeviceOffline' && w.memberCount >= policy.fleetOutageThreshold) return 3;
  return w.maxLevel;
}

/** A cause window that holds one member only: announced (and resolved) as that member's own alert. */
function loneMember(w: GroupWindow): GroupFirstMember | undefined {
  return w.cause && w.memberCount === 1 && w.first ? w.first : undefined;
}

/**
 * The one message for a group window. A group of one reads like a single alert: a cause group's lone member is
 * its own alert exactly (only the group_wait delayed it).
 */
export function groupedEvent(
  w: GroupWindow,
  meta: { now: number; runbookBase?: string },
  policy: AlertPolicyConfig = DEFAULT_ALERT_POLICY,
): AlertEvent {
  const lone = loneMember(w);
  if (lone)
    return toAlertEvent(lone, {
      notificationId: `group:${w.groupKey}:${w.windowId}`,
      now: meta.now,
      runbookBase: meta.runbookBase,
      repeat: lone.repeat,
      suppressedCount: lone.suppressedCount,
    });
  const level = groupLevel(w, policy);
  const single = w.memberCount === 1 && w.sample.length === 1 ? w.sample[0] : undefined;
  const names = w.sample.map((m) => m.deviceId ?? m.service ?? '?');
  const more = w.memberCount > names.length ? ` and ${w.memberCount - names.length} more` : '';
  const summary = w.cause
    ? `${w.memberCount} devices: ${w.alertName}, cause ${w.cause}: ${names.join(', ')}${more}`
    : w.alertName === 'DeviceOffline'
      ? single
        ? `Device ${single.deviceId} stopped reporting`
        : `${w.memberCount} devices stopped reporting within ${formatDuration(w.lastAt - w.openedAt || 0)}: ${names.join(', ')}${more}`
      : single
        ? `${w.alertName} on ${single.deviceId ?? single.service}`
        : `${w.memberCount}× ${w.alertName}: ${names.join(', ')}${more}`;
  const nextAction =
    level === 3 && w.alertName === 'DeviceOffline'
      ? 'Many devices at once: suspect the network, a site, or the control plane (check the API and `fleetmedic devices`) before single devices.'
      : w.cause
        ? `One cause on ${w.memberCount} devices: fix it once (an image: the target's image reference or registry credential; a rollout: \`fleetmedic rollout list\`); \`fleetmedic device ${names[0] ?? '<id>'}\` shows the error on one of them.`
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
    tried:
      w.alertName === 'DeviceOffline' ? ['waited for the offline threshold (no report in 3 heartbeat intervals)'] : [],
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
  const lone = loneMember(w);
  if (lone) {
    // Its own "resolved" message, as if it had been announced on its own (it was raised when its window opened).
    return resolvedEvent(
      {
        dedupeKey: lone.dedupeKey ?? `group:${w.groupKey}`,
        alertName: lone.alertName,
        severity: severityForLevel(lone.level),
        firstRaisedAt: w.openedAt,
        flaps: 0,
        suppressedCount: 0,
        deviceId: lone.deviceId,
        service: lone.service,
        notifyOnFail: lone.notifyOnFail,
      },
      { notificationId: `group-resolved:${w.groupKey}:${w.windowId}`, now: meta.now, runbookBase: meta.runbookBase },
    );
  }
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
