/**
 * Offline detection, all of it: which devices went quiet, their DeviceOffline alerts, marking them offline, the
 * devices_offline gauge, and a device coming back. docs/architecture.md ("Liveness") explains the model.
 *
 *  - Every accepted report is a sign of life on the device's liveness item (adapters/liveness-repo.ts
 *    touchLiveness, from services/report-intake.ts); its write also takes back an offline claim.
 *  - `evaluateFleet` (the health evaluator's schedule, every minute) finds devices gone quiet WITHOUT scanning the
 *    table: one Query per liveness partition for `lastSeenEpoch < now - offlineAfter`. It raises their
 *    DeviceOffline alerts (grouped: many at once become one message), claims them on the liveness item, shows
 *    them offline in the state and enters them in the sparse `byOffline` index; then it announces the alert groups
 *    whose group_wait has passed and publishes how many devices are offline now (`devices_offline`).
 *  - `deviceCameBackOnline` (a report from a device shown offline): resolves its DeviceOffline alert, records it.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { flushAlertGroups, type FlushResult } from './alert-groups.js';
import { raiseAlert, resolveAlert } from './alerts.js';
import {
  countOfflineDevices,
  getDeviceState,
  listSilencedOfflineDevices,
  markStateOffline,
  setOfflineSilenced,
} from '../adapters/devices-repo.js';
import { recordEvent } from '../adapters/events.js';
import { claimOffline, findQuietDevices, offlineRecorded } from '../adapters/liveness-repo.js';
import { activeMarkers } from '../adapters/markers-repo.js';
import { deviceOfflineAlert } from '../domain/alerting/builders.js';
import { dedupeKeyFor } from '../domain/alerting/event.js';
import { offlineCutoff, silencingMarker, type HealthPolicyConfig } from '../domain/health-policy.js';
import { disconnectedCutoff } from '../domain/liveness.js';
import { logger, metrics } from '../lib/observability.js';
import { healthPolicy } from './health-settings.js';

export { findQuietDevices };

export interface FleetEvaluation {
  offline: string[];
  silenced: string[];
  /** Devices still offline whose silencing marker ended: counted (and alerted on) from this run. */
  unsilenced?: string[];
  /** Devices that reported between the index read and our write (left online). */
  raced: string[];
  /** Devices offline after this run (the devices_offline gauge). */
  offlineNow: number;
  groups: FlushResult;
}

export async function evaluateFleet(
  opts: { now?: number; policy?: HealthPolicyConfig } = {},
): Promise<FleetEvaluation> {
  const now = opts.now ?? Date.now();
  const policy = opts.policy ?? healthPolicy();
  const result: FleetEvaluation = {
    offline: [],
    silenced: [],
    raced: [],
    offlineNow: 0,
    groups: { published: [], dropped: [], waiting: [] },
  };
  // Heartbeat silence, or (sooner) silence after a clean push disconnect: domain/liveness.ts states both bounds.
  const afterDisconnect = disconnectedCutoff(now, { offlineAfterSeconds: policy.offlineAfterMs / 1000 });
  for (const c of await findQuietDevices(offlineCutoff(now, policy), undefined, afterDisconnect)) {
    const markers = await activeMarkers(c.deviceId, now);
    const marker = silencingMarker(markers, undefined, now);
    // Alert first, then mark: if we die in between, the next run finds the device again and the alert's
    // dedupe record absorbs the repeat. The other order could lose the alert for good.
    if (!marker)
      await raiseAlert(
        deviceOfflineAlert({
          deviceId: c.deviceId,
          lastSeenEpochMs: c.lastSeenEpoch,
          offlineAfterMs: policy.offlineAfterMs,
        }),
        { now },
      );
    // The claim on the liveness item decides the race with a report arriving now (its write removes the claim).
    // A claim left by a run that died before finishing (c.offlineAt) is finished here.
    const offlineAt = c.offlineAt ?? now;
    if (c.offlineAt === undefined && !(await claimOffline(c.deviceId, c.lastSeenEpoch, now))) {
      // It reported in the meantime: take the alert back (a grouped one just leaves its group uncounted).
      if (!marker) await resolveAlert(dedupeKeyFor({ alertName: 'DeviceOffline', deviceId: c.deviceId }), { now });
      result.raced.push(c.deviceId);
      continue;
    }
    await markStateOffline(c.deviceId, now, !!marker);
    await recordEvent(
      {
        type: 'device.offline',
        deviceId: c.deviceId,
        detail: { lastSeenAt: new Date(c.lastSeenEpoch).toISOString(), silenced: !!marker },
      },
      now,
    );
    await offlineRecorded(c.deviceId, offlineAt);
    (marker ? result.silenced : result.offline).push(c.deviceId);
  }
  result.groups = await flushAlertGroups({ now });
  metrics.addMetric('devices_marked_offline', MetricUnit.Count, result.offline.length + result.silenced.length);
  // The level, not the flow: how many devices are offline now (the DevicesOffline alarm's metric).
  result.unsilenced = await countDevicesWhoseMarkerEnded(now, policy);
  result.offlineNow = await countOfflineDevices();
  metrics.addMetric('devices_offline', MetricUnit.Count, result.offlineNow);
  if (result.offline.length || result.groups.published.length)
    logger.info('fleet evaluated', {
      offline: result.offline.length,
      silenced: result.silenced.length,
      raced: result.raced.length,
      groups: result.groups,
    });
  return result;
}

/**
 * A device offline under a device-wide marker is not counted in devices_offline (docs/architecture.md, "Offline and
 * markers"). Markers end without an event (TTL, or an operator deleting them), so each run re-checks the silenced
 * offline devices (a keys-only Query per shard plus one marker Query per such device: the cost grows with devices
 * offline under maintenance, not with the fleet) and moves those whose marker ended back to counted, raising their
 * DeviceOffline alert then.
 */
async function countDevicesWhoseMarkerEnded(now: number, policy: HealthPolicyConfig): Promise<string[]> {
  const moved: string[] = [];
  for (const deviceId of await listSilencedOfflineDevices()) {
    if (silencingMarker(await activeMarkers(deviceId, now), undefined, now)) continue;
    if (!(await setOfflineSilenced(deviceId, false))) continue;
    const state = await getDeviceState(deviceId, false);
    await raiseAlert(
      deviceOfflineAlert({
        deviceId,
        lastSeenEpochMs: state?.lastSeenEpoch ?? now,
        offlineAfterMs: policy.offlineAfterMs,
      }),
      { now },
    );
    moved.push(deviceId);
  }
  return moved;
}

/** A device shown offline reported again: its DeviceOffline alert is resolved (answered: the alert key, if one was open). */
export async function deviceCameBackOnline(
  deviceId: string,
  ctx: { now: number; correlationId?: string },
): Promise<string | undefined> {
  const key = dedupeKeyFor({ alertName: 'DeviceOffline', deviceId });
  const res = await resolveAlert(key, ctx);
  await recordEvent({ type: 'device.online', deviceId, correlationId: ctx.correlationId, detail: {} }, ctx.now);
  return res.action !== 'none' ? key : undefined;
}
