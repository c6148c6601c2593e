/**
 * Raising and resolving one alert key: the dedupe record decides (domain/alerting/dedupe.ts) whether people hear
 * about it now, later with its group (services/alert-groups.ts), or not again until the cooldown ends; this
 * carries the decision out against the record (adapters/alert-records.ts), the topic
 * (adapters/alert-publication.ts) and the event history. Silences are checked before, in services/alerts.ts.
 */
import {
  clearMemberWindow,
  deleteAlertRecord,
  getAlertRecord,
  setMemberWindow,
  writeAlertRecord,
} from '../adapters/alert-records.js';
import { countUpOpenWindow, joinGroup } from '../adapters/alert-groups.js';
import { publishAlertEvent } from '../adapters/alert-publication.js';
import { raceBackoff } from '../adapters/common/conditions.js';
import { severityForLevel, type Severity } from '../domain/alerting/catalogue.js';
import {
  decideRaise,
  decideResolve,
  resolvedEvent,
  type AlertPolicyConfig,
  type AlertRecord,
} from '../domain/alerting/dedupe.js';
import { dedupeKeyFor, toAlertEvent, type AlertInput } from '../domain/alerting/event.js';
import { timeOrderedId } from '../lib/ids.js';
import { logger } from '../lib/observability.js';
import { alertPolicy, MAX_RACES, memberResolved, type AlertOptions } from './alert-groups.js';
import { recordAlertEvent } from './alert-history.js';

export type { AlertOptions };

/** Undo a claimed notification whose publication failed, so the next raise tries again instead of being suppressed. */
async function restoreRecord(
  prev: AlertRecord | undefined,
  claimed: AlertRecord,
  now: number,
  policy: AlertPolicyConfig,
): Promise<void> {
  try {
    if (prev) await writeAlertRecord({ ...prev, version: claimed.version + 1 }, claimed.version, now, policy);
    else await deleteAlertRecord(claimed.dedupeKey, claimed.version);
  } catch (err) {
    logger.error('could not roll back alert record after a failed publish', {
      dedupeKey: claimed.dedupeKey,
      error: (err as Error).message,
    });
  }
}

export type RaiseResult =
  | {
      action: 'notified';
      dedupeKey: string;
      severity: Severity;
      notificationId: string;
      messageId?: string;
      repeat: boolean;
    }
  | { action: 'grouped'; dedupeKey: string; groupKey: string; windowId: string }
  | {
      action: 'suppressed';
      dedupeKey: string;
      reason: 'cooldown' | 'flapping' | 'silenced';
      suppressedCount: number;
      /** The silence that matched (reason `silenced`). */
      silenceId?: string;
    };

/**
 * Raise an alert (level 2 or 3). Idempotent in effect: call it every time the condition is seen; the record
 * decides whether people hear about it now, later (group), or not again until the cooldown ends.
 */
export async function raiseAlert(input: AlertInput, opts: AlertOptions = {}): Promise<RaiseResult> {
  const policy = opts.policy ?? alertPolicy();
  const dedupeKey = input.dedupeKey ?? dedupeKeyFor(input);
  for (let attempt = 0; attempt < MAX_RACES; attempt++) {
    const now = opts.now ?? Date.now();
    const prev = await getAlertRecord(dedupeKey);
    const decision = decideRaise(prev, { ...input, dedupeKey }, now, policy);
    const record =
      decision.action === 'group'
        ? { ...decision.record, group: { key: decision.groupKey, windowId: '' } }
        : decision.record;
    if (!(await writeAlertRecord(record, prev?.version ?? 0, now, policy))) {
      await raceBackoff(attempt);
      continue;
    }
    if (decision.action === 'suppress') {
      // A grouped member flapped inside group_wait: it is failing again, so its window must count it as failing.
      if (decision.rejoin && !(await countUpOpenWindow(decision.rejoin)))
        await clearMemberWindow(dedupeKey, record.version);
      // One history entry per burst, not one per report of a still-failing service.
      if (record.suppressedCount === 1 || decision.reason === 'flapping') {
        await recordAlertEvent(
          'alert.suppressed',
          record,
          { reason: decision.reason, suppressedCount: record.suppressedCount },
          now,
          input.correlationId,
        );
      }
      return { action: 'suppressed', dedupeKey, reason: decision.reason, suppressedCount: record.suppressedCount };
    }
    if (decision.action === 'group') {
      // With its key: a window that holds only this member is announced as this member's own alert.
      const member = decision.repeat
        ? { ...input, dedupeKey, repeat: true, suppressedCount: decision.suppressedCount }
        : { ...input, dedupeKey };
      const windowId = await joinGroup(decision.groupKey, member, now, policy);
      await setMemberWindow(dedupeKey, record.version, decision.groupKey, windowId);
      await recordAlertEvent(
        'alert.raised',
        record,
        { grouped: decision.groupKey, windowId, severity: severityForLevel(input.level) },
        now,
        input.correlationId,
      );
      return { action: 'grouped', dedupeKey, groupKey: decision.groupKey, windowId };
    }
    const notificationId = `alert:${timeOrderedId(now)}`;
    const event = toAlertEvent(
      { ...input, dedupeKey },
      { notificationId, now, suppressedCount: decision.suppressedCount, repeat: decision.repeat },
    );
    let messageId: string | undefined;
    try {
      messageId = await publishAlertEvent(event);
    } catch (err) {
      await restoreRecord(prev, record, now, policy);
      throw err;
    }
    await recordAlertEvent(
      'alert.raised',
      record,
      {
        severity: event.severity,
        level: event.level,
        notificationId,
        repeat: decision.repeat,
        escalated: decision.escalated,
      },
      now,
      input.correlationId,
    );
    logger.info('alert published', {
      dedupeKey,
      severity: event.severity,
      alertName: event.alertName,
      repeat: decision.repeat,
      messageId,
      correlationId: input.correlationId,
    });
    return {
      action: 'notified',
      dedupeKey,
      severity: event.severity,
      notificationId,
      messageId,
      repeat: decision.repeat,
    };
  }
  throw new Error(`alert ${dedupeKey}: gave up after ${MAX_RACES} lost races`);
}

export type ResolveResult = {
  action: 'none' | 'silent' | 'resolved' | 'group-member';
  dedupeKey: string;
  messageId?: string;
};

/** The condition behind `dedupeKey` cleared. Sends a resolved message only if people were told it was firing. */
export async function resolveAlert(
  dedupeKey: string,
  opts: AlertOptions & { correlationId?: string } = {},
): Promise<ResolveResult> {
  const policy = opts.policy ?? alertPolicy();
  for (let attempt = 0; attempt < MAX_RACES; attempt++) {
    const now = opts.now ?? Date.now();
    const prev = await getAlertRecord(dedupeKey);
    const decision = decideResolve(prev, now);
    if (decision.action === 'none') return { action: 'none', dedupeKey };
    if (!(await writeAlertRecord(decision.record, prev!.version, now, policy))) {
      await raceBackoff(attempt);
      continue;
    }
    if (decision.action === 'silent') return { action: 'silent', dedupeKey };
    if (decision.action === 'group-member') {
      await memberResolved(decision.group, now);
      await recordAlertEvent('alert.resolved', prev!, { grouped: decision.group.key }, now, opts.correlationId);
      return { action: 'group-member', dedupeKey };
    }
    const event = resolvedEvent(prev!, { notificationId: `resolved:${timeOrderedId(now)}`, now });
    let messageId: string | undefined;
    try {
      messageId = await publishAlertEvent(event);
    } catch (err) {
      // Put the firing record back so the next resolve announces it.
      await writeAlertRecord(
        { ...prev!, version: decision.record.version + 1 },
        decision.record.version,
        now,
        policy,
      ).catch(() => false);
      throw err;
    }
    await recordAlertEvent(
      'alert.resolved',
      prev!,
      { firingForSeconds: Math.round(decision.firingForMs / 1000), flaps: decision.flaps },
      now,
      opts.correlationId,
    );
    return { action: 'resolved', dedupeKey, messageId };
  }
  throw new Error(`alert ${dedupeKey}: gave up after ${MAX_RACES} lost races`);
}
