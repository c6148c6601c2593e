/**
 * Alert groups (Alertmanager's group_wait): many members of one group become one message. Members join the open
 * window of their group (services/alert-raising.ts); the evaluator's flush announces a window once its wait has
 * passed, and the last member to recover announces the group as resolved. The decisions are the pure functions of
 * domain/alerting/groups.ts, the storage adapters/alert-groups.ts, the topic adapters/alert-publication.ts.
 */
import {
  claimGroupResolved,
  claimOutboxEntry,
  countDownFlushedWindow,
  countDownOpenWindow,
  dropWindow,
  getOpenWindow,
  getOutboxEntry,
  listGroupBookkeeping,
  outboxEntrySent,
  queueAndCloseWindow,
  type FlushedWindow,
  type OutboxEntry,
} from '../adapters/alert-groups.js';
import { publishAlertEvent } from '../adapters/alert-publication.js';
import { raceBackoff } from '../adapters/common/conditions.js';
import { DEFAULT_ALERT_POLICY, type AlertPolicyConfig } from '../domain/alerting/dedupe.js';
import { AlertEvent } from '../domain/alerting/event.js';
import { decideFlush, groupResolvedEvent, groupedEvent, type GroupWindow } from '../domain/alerting/groups.js';
import { config } from '../lib/config.js';
import { logger } from '../lib/observability.js';
import { recordAlertEvent } from './alert-history.js';

/** How often a conditional write may lose a race before giving up. */
export const MAX_RACES = 50;
/** A flusher that died mid-publish releases its claim on a queued message after this long. */
const OUTBOX_CLAIM_MS = 60_000;

/** The alert policy with this deployment's cooldown and group wait. */
export function alertPolicy(): AlertPolicyConfig {
  return {
    ...DEFAULT_ALERT_POLICY,
    cooldownMs: config.alertCooldownSeconds * 1000,
    groupWaitMs: config.alertGroupWaitSeconds * 1000,
  };
}

export interface AlertOptions {
  now?: number;
  policy?: AlertPolicyConfig;
}

/** A grouped member recovered: count its window down; the last one out announces the group as resolved. */
export async function memberResolved(group: { key: string; windowId: string }, now: number): Promise<void> {
  // Still collecting? Count down the open window (only if it is the member's window, or the id is unknown).
  if (await countDownOpenWindow(group)) return;
  if (!group.windowId) return;
  // Otherwise its flushed window, unless that was dropped (everyone recovered before it was announced) or expired.
  const flushed = await countDownFlushedWindow(group.key, group.windowId);
  if (flushed) await maybeAnnounceGroupResolved(flushed, now);
}

async function maybeAnnounceGroupResolved(w: FlushedWindow, now: number): Promise<void> {
  if (!w.notified || w.resolvedNotified || Number(w.openCount) > 0) return;
  if (!(await claimGroupResolved(w.window.groupKey, w.window.windowId))) return; // someone else announces it
  await publishAlertEvent(groupResolvedEvent({ ...w.window, openCount: 0 }, { now }));
}

export interface FlushResult {
  published: string[];
  dropped: string[];
  waiting: string[];
}

/**
 * Announce every group window whose group_wait has passed (one message per window), and retry announcements
 * whose publication failed earlier. Called by the scheduled evaluator every minute (and by tests).
 */
export async function flushAlertGroups(opts: AlertOptions = {}): Promise<FlushResult> {
  const policy = opts.policy ?? alertPolicy();
  const now = opts.now ?? Date.now();
  const out: FlushResult = { published: [], dropped: [], waiting: [] };
  const { outbox, open } = await listGroupBookkeeping();
  for (const entry of outbox) {
    if (await publishOutboxEntry(entry, now)) out.published.push(`OUTBOX#${entry.groupKey}#${entry.windowId}`);
  }
  for (const w of open) out[await flushWindow(w, now, policy)].push(w.groupKey);
  return out;
}

async function flushWindow(
  first: GroupWindow,
  now: number,
  policy: AlertPolicyConfig,
): Promise<'published' | 'dropped' | 'waiting'> {
  let w: GroupWindow | undefined = first;
  for (let attempt = 0; attempt < MAX_RACES && w; attempt++) {
    const decision = decideFlush(w, now);
    if (decision.action === 'wait') return 'waiting';
    if (decision.action === 'drop') {
      if (await dropWindow(w)) {
        logger.info('alert group dropped', {
          groupKey: w.groupKey,
          windowId: w.windowId,
          reason: decision.reason,
          members: w.memberCount,
        });
        return 'dropped';
      }
    } else if (await queueAndCloseWindow(w, groupedEvent(w, { now }, policy), now)) {
      await publishOutboxEntry(await getOutboxEntry(w.groupKey, w.windowId), now);
      return 'published';
    }
    // A member joined or resolved meanwhile: re-read and render again with it included (same window id).
    w = await getOpenWindow(first.groupKey);
    await raceBackoff(attempt);
  }
  return 'waiting';
}

/** Publish a queued group message (claimed with a lease so two flushers do not both send it). */
async function publishOutboxEntry(entry: OutboxEntry | undefined, now: number): Promise<boolean> {
  if (!entry) return false;
  const { groupKey, windowId } = entry;
  // Its window still open (a flusher died between queueing and closing): the window's own flush redoes both.
  if ((await getOpenWindow(groupKey))?.windowId === windowId) return false;
  if (!(await claimOutboxEntry(entry, now, now + OUTBOX_CLAIM_MS))) return false;
  const event = AlertEvent.parse(JSON.parse(entry.event));
  const messageId = await publishAlertEvent(event);
  const flushed = await outboxEntrySent(entry);
  logger.info('alert group published', {
    groupKey,
    windowId,
    members: event.group?.count,
    severity: event.severity,
    messageId,
  });
  await recordAlertEvent(
    'alert.raised',
    { dedupeKey: event.dedupeKey, alertName: event.alertName, deviceId: event.deviceId, service: event.service },
    { grouped: groupKey, windowId, count: event.group?.count ?? 1, severity: event.severity },
    now,
  );
  // Everyone may have recovered while the message was on its way.
  if (flushed) await maybeAnnounceGroupResolved(flushed, now);
  return true;
}
