/** Operator views of a device (summary for the list, detail for one device) from its stored items. */
import type { TargetStateDocument } from '../contract/target-state.js';
import type * as z from 'zod/mini';
import type { DeviceDetail, DeviceSummary, ErrorHistoryEntry, Marker } from '../contract/operator.js';
import type { FleetEvent } from '../contract/operator.js';
import { fromItem } from '../adapters/circuit-repo.js';
import type { DeviceMeta } from '../adapters/devices-repo.js';
import { isMarkerItem, markerActive, toMarker, markerSk } from '../adapters/markers-repo.js';
import { toView } from '../domain/circuit-breaker.js';
import { errorBadges, type StoredDeviceState } from '../domain/report-merge.js';

type Summary = z.output<typeof DeviceSummary>;
type Detail = z.output<typeof DeviceDetail>;

export function deviceSummary(
  meta: DeviceMeta,
  state: StoredDeviceState | undefined,
  circuitItem: Record<string, unknown> | undefined,
  deviceMarker: Record<string, unknown> | undefined,
  now: number,
): Summary {
  const summary: Summary = {
    deviceId: meta.deviceId,
    health: state?.health ?? 'unknown',
    circuit: toView(fromItem(circuitItem)),
    errors: errorBadges(state?.services),
  };
  if (meta.name) summary.name = meta.name;
  if (state?.lastReportAt)
    summary.lastSeenAt = new Date(state.lastSeenEpoch ?? Date.parse(state.lastReportAt)).toISOString();
  if (state?.agentVersion) summary.agentVersion = state.agentVersion;
  if (deviceMarker && markerActive(deviceMarker, now)) summary.silencedUntil = toMarker(deviceMarker).expiresAt;
  return summary;
}

export function deviceDetail(
  meta: DeviceMeta,
  state: StoredDeviceState | undefined,
  others: Map<string, Record<string, unknown>>,
  recentEvents: FleetEvent[],
  now: number,
  target?: TargetStateDocument,
  errorEvents: FleetEvent[] = [],
): Detail {
  const markers: Marker[] = [...others.entries()]
    .filter(([sk, item]) => isMarkerItem(sk) && markerActive(item, now))
    .map(([, item]) => toMarker(item));
  const detail: Detail = {
    ...deviceSummary(meta, state, others.get('CIRCUIT'), others.get(markerSk()), now),
    services: Object.values(state?.services ?? {}).sort((a, b) => a.name.localeCompare(b.name)),
    markers,
    recentEvents,
    errorHistory: errorHistory(errorEvents),
  };
  if (meta.labels) detail.labels = meta.labels;
  if (target) detail.target = { version: target.version, updatedAt: target.updatedAt, target: target.target };
  if (state) {
    detail.uptimeSeconds = state.uptimeSeconds;
    detail.lastSeq = state.lastSeq;
    if (state.clockOffsetMs !== undefined) detail.clockOffsetMs = state.clockOffsetMs;
    if (state.targetVersion !== undefined) detail.targetVersion = state.targetVersion;
  }
  return detail;
}

/** Most error changes a service shows in the device detail. */
export const ERROR_HISTORY_PER_SERVICE = 5;

/** `service.error` events (newest first) → the last changes of each service, newest first. */
export function errorHistory(events: FleetEvent[]): ErrorHistoryEntry[] {
  const perService = new Map<string, number>();
  const out: ErrorHistoryEntry[] = [];
  for (const e of events) {
    const d = e.detail as Partial<Record<string, unknown>>;
    if (!e.service || typeof d.type !== 'string' || typeof d.since !== 'string') continue;
    const n = perService.get(e.service) ?? 0;
    if (n >= ERROR_HISTORY_PER_SERVICE) continue;
    perService.set(e.service, n + 1);
    const change = d.change === 'changed' || d.change === 'cleared' ? d.change : 'raised';
    const entry: ErrorHistoryEntry = {
      service: e.service,
      change,
      type: d.type,
      message: typeof d.message === 'string' ? d.message : '',
      since: d.since,
      at: e.at,
    };
    if (typeof d.previousType === 'string') entry.previousType = d.previousType;
    if (typeof d.clearedAt === 'string') entry.clearedAt = d.clearedAt;
    out.push(entry);
  }
  return out;
}
