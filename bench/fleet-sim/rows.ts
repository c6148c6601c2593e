/** The fleet simulator's figures as bench rows: each budget with the previous protocol's figure from the same run. */
import type { BenchRow } from '../run.js';
import { DEVICE_API_SECONDS } from '../../functions/domain/capacity.js';
import { monthlyCost, PRICES, type MonthlyCost } from './prices.js';
import type { CohortResult, FleetSimResult, Latencies } from './simulator.js';

const SUITE = 'fleet-sim';
/** The budget run: at least this many devices for at least this long. */
export const BUDGET_DEVICES = 1000;
export const BUDGET_MINUTES = 10;

const n1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');
const sec = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : 'n/a');
const lat = (l: Latencies, unit: 'ms' | 's') =>
  l.samples
    ? `${unit === 'ms' ? `${Math.round(l.p50)} / ${Math.round(l.p99)} ms` : `${sec(l.p50)} / ${sec(l.p99)}`} (n=${l.samples})`
    : 'no samples';

/** An idle device's month: its own traffic plus its share of the fleet-wide schedules. */
export function idleMonthlyCost(c: CohortResult): MonthlyCost {
  return monthlyCost({
    apiRequests: c.idle.requests,
    lambdaInvocations: c.idle.lambdaInvocations + c.background.lambdaInvocations,
    lambdaGbSeconds: c.idle.lambdaGbSeconds + c.background.lambdaGbSeconds,
    readUnits: c.idle.readUnits + c.background.readUnits,
    writeUnits: c.idle.writeUnits + c.background.writeUnits,
  });
}

export function fleetSimRows(r: FleetSimResult): BenchRow[] {
  const { sync, baseline } = r;
  const budgetRun = sync.devices >= BUDGET_DEVICES && r.measuredSeconds >= BUDGET_MINUTES * 60;
  const rows: BenchRow[] = [];
  const row = (metric: string, value: string, more: Partial<BenchRow> = {}) =>
    rows.push({ suite: SUITE, metric, value, ...more });
  const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? (a / b).toFixed(2) : '');

  row(
    'run',
    `${sync.devices} devices (${sync.idleDevices} idle) on /sync, ${baseline.devices} (${baseline.idleDevices} idle) on the previous protocol, ${(r.measuredSeconds / 60).toFixed(1)} min measured`,
    {
      baseline: `heartbeat ${r.liveness.heartbeatSeconds} s, offline after ${r.liveness.offlineAfterSeconds} s, stage ${r.stageThrottle.rateLimit}/s burst ${r.stageThrottle.burstLimit}`,
    },
  );
  const routes = new Set([...Object.keys(sync.idle.requestsByRoute), ...Object.keys(baseline.idle.requestsByRoute)]);
  for (const route of [...routes].sort()) {
    row(`requests/device-hour idle: ${route}`, n1(sync.idle.requestsByRoute[route] ?? 0), {
      baseline: n1(baseline.idle.requestsByRoute[route] ?? 0),
    });
  }
  row('device requests/device-hour, idle, at defaults', n1(sync.idle.requests), {
    baseline: n1(baseline.idle.requests),
    ratio: ratio(sync.idle.requests, baseline.idle.requests),
    budget: '≤ 125',
    ok: sync.idle.requests <= 125,
  });
  const withShare = (c: CohortResult, k: 'lambdaInvocations' | 'lambdaGbSeconds' | 'readUnits' | 'writeUnits') =>
    c.idle[k] + c.background[k];
  row("Lambda invocations/device-hour (+ schedules' share)", n1(withShare(sync, 'lambdaInvocations')), {
    baseline: n1(withShare(baseline, 'lambdaInvocations')),
    ratio: ratio(withShare(sync, 'lambdaInvocations'), withShare(baseline, 'lambdaInvocations')),
  });
  row(
    `Lambda GB-s/device-hour (API calls billed at ${DEVICE_API_SECONDS * 1000} ms)`,
    withShare(sync, 'lambdaGbSeconds').toFixed(3),
    { baseline: withShare(baseline, 'lambdaGbSeconds').toFixed(3) },
  );
  row(
    'device-api local duration p50 / p99 (emulator, shared machine; not billed)',
    lat(sync.localApiDurationMs, 'ms'),
    { baseline: lat(baseline.localApiDurationMs, 'ms') },
  );
  row("DynamoDB read units/device-hour (+ schedules' share)", n1(withShare(sync, 'readUnits')), {
    baseline: n1(withShare(baseline, 'readUnits')),
    ratio: ratio(withShare(sync, 'readUnits'), withShare(baseline, 'readUnits')),
  });
  row("DynamoDB write units/device-hour (+ schedules' share)", n1(withShare(sync, 'writeUnits')), {
    baseline: n1(withShare(baseline, 'writeUnits')),
    ratio: ratio(withShare(sync, 'writeUnits'), withShare(baseline, 'writeUnits')),
  });
  row(
    "of which the schedules' share: invocations / RRU / WRU",
    `${sync.background.lambdaInvocations.toFixed(2)} / ${sync.background.readUnits.toFixed(2)} / ${sync.background.writeUnits.toFixed(2)}`,
  );
  row('sync latency p50 / p99', lat(sync.heartbeatLatencyMs, 'ms'), {
    baseline: `${lat(baseline.heartbeatLatencyMs, 'ms')} (POST /reports)`,
  });
  row('job pickup p50 / p99, idle device (enqueue → IN_PROGRESS)', lat(sync.firstPickupMs, 's'), {
    baseline: lat(baseline.firstPickupMs, 's'),
  });
  row('follow-up job pickup p50 / p99, short-interval window', lat(sync.followUpPickupMs, 's'), {
    baseline: lat(baseline.followUpPickupMs, 's'),
    budget: 'p50 ≤ 3 s',
    ...(sync.followUpPickupMs.samples ? { ok: sync.followUpPickupMs.p50 <= 3000 } : { ok: false }),
  });
  row('jobs succeeded / enqueued', `${sync.jobsSucceeded} / ${sync.jobsEnqueued}`, {
    baseline: `${baseline.jobsSucceeded} / ${baseline.jobsEnqueued}`,
  });
  row(
    `false device.offline${budgetRun ? '' : ' (short run: budget needs ≥ 1,000 devices, ≥ 10 min)'}`,
    `${r.falseOffline.events}${r.falseOffline.devices.length ? ` (${r.falseOffline.devices.slice(0, 3).join(', ')}${r.falseOffline.devices.length > 3 ? ', …' : ''})` : ''}`,
    { budget: '0', ...(budgetRun ? { ok: r.falseOffline.events === 0 } : {}) },
  );
  const detected = r.stopped.map((s) => s.detectedAfterMs);
  const allSeen = detected.every((d) => d !== null);
  const worst = Math.max(...detected.map((d) => d ?? Number.POSITIVE_INFINITY));
  row(
    `stopped device marked offline after (worst of ${r.stopped.length})`,
    allSeen
      ? sec(worst)
      : `${detected.filter((d) => d === null).length} not detected in the run${r.measuredSeconds < r.detectionBoundSeconds + 10 ? ' (run shorter than the bound)' : ''}`,
    {
      budget: `≤ ${r.detectionBoundSeconds} s`,
      ...(allSeen
        ? { ok: worst <= r.detectionBoundSeconds * 1000 }
        : r.measuredSeconds >= r.detectionBoundSeconds + 10
          ? { ok: false }
          : {}),
    },
  );
  row('429 answers to devices', String(sync.throttled), { baseline: String(baseline.throttled) });
  row('device requests failed (network, timeout, 5xx)', String(sync.errors), { baseline: String(baseline.errors) });
  const cost = idleMonthlyCost(sync);
  const base = idleMonthlyCost(baseline);
  const parts = (c: MonthlyCost) =>
    `API ${c.api.toFixed(3)} + λ ${(c.lambdaRequests + c.lambdaDuration).toFixed(3)} + RRU ${c.reads.toFixed(3)} + WRU ${c.writes.toFixed(3)}`;
  row(
    `modelled AWS cost/device-month, idle (list prices ${PRICES.asOf})`,
    `$${cost.total.toFixed(3)} (${parts(cost)})`,
    {
      baseline: `$${base.total.toFixed(3)} (${parts(base)})`,
      ratio: ratio(cost.total, base.total),
      budget: '≤ $0.150',
      ok: cost.total <= 0.15,
    },
  );
  return rows;
}
