/**
 * health-evaluator: decides what happens when devices or services fail.
 *
 *  - `handler` (schedule, every minute): finds devices gone quiet WITHOUT scanning the table — one Query per
 *    liveness partition for `lastSeenEpoch < now − offlineAfter` (adapters/liveness-repo.ts) — raises their
 *    DeviceOffline alerts (grouped: many at once become one message) and marks them offline (claimed on the
 *    liveness item, then shown in the state and entered in the sparse `byOffline` index). Then it announces the alert groups whose group_wait has
 *    passed, and publishes how many devices are offline now (`devices_offline`, counted from `byOffline`).
 *  - `evaluateDevice` (in-process, on each stored report): service findings from the merged state → recovery
 *    jobs (rate-limited per service, honouring the circuit breaker and markers, dependencies first) or alerts;
 *    findings that cleared since the previous state resolve their alerts. A healthy device costs no read at all.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { flushAlertGroups, type FlushResult } from '../adapters/alert-groups.js';
import { raiseAlert, resolveAlert, type RaiseResult } from '../adapters/alert-records.js';
import { circuitOpenAlert, deviceOfflineAlert } from '../domain/alerting/builders.js';
import { dedupeKeyFor } from '../domain/alerting/event.js';
import { readCircuit } from '../adapters/circuit-repo.js';
import {
  countOfflineDevices,
  getDeviceState,
  getTarget,
  listSilencedOfflineDevices,
  markStateOffline,
  setOfflineSilenced,
} from '../adapters/devices-repo.js';
import { claimOffline, findQuietDevices, offlineRecorded } from '../adapters/liveness-repo.js';
import { recordEvent } from '../adapters/events.js';
import { countEnqueued } from '../adapters/job-metrics.js';
import { publishJob } from '../adapters/job-queue.js';
import { createJob } from '../adapters/jobs-repo.js';
import { activeMarkers } from '../adapters/markers-repo.js';
import { tryAcquireRecoverySlot } from '../adapters/recovery-repo.js';
import {
  DEFAULT_HEALTH_POLICY,
  deviceFindings,
  offlineCutoff,
  planRecovery,
  recoveredServices,
  silencingMarker,
  type Finding,
  type HealthPolicyConfig,
  type PlanStep,
} from '../domain/health-policy.js';
import { newJob } from '../domain/job-lifecycle.js';
import { disconnectedCutoff } from '../domain/liveness.js';
import { agentRecoveries, type StoredDeviceState } from '../domain/report-merge.js';
import { config } from '../lib/config.js';
import { newJobId } from '../lib/ids.js';
import { countRunCompleted, forFunction, logger, metrics } from '../lib/observability.js';

// A liveness configuration that contradicts itself fails the cold start, naming its keys (domain/liveness.ts).
void config.liveness;

export function healthPolicy(): HealthPolicyConfig {
  return {
    ...DEFAULT_HEALTH_POLICY,
    offlineAfterMs: config.liveness.offlineAfterSeconds * 1000,
    maxRecoveryAttempts: config.recoveryMaxAttempts,
    recoveryWindowMs: config.recoveryWindowSeconds * 1000,
  };
}

// ---------------------------------------------------------------- per device (on each report)

export interface EvaluateOptions {
  /** The state before this report was merged: findings that cleared since then resolve their alerts. */
  previous?: StoredDeviceState;
  now?: number;
  correlationId?: string;
  policy?: HealthPolicyConfig;
}

export type StepOutcome =
  | { service: string; kind: 'recovery-enqueued'; jobId: string; attempt: number }
  | { service: string; kind: 'recovery-in-flight'; jobId: string }
  | { service: string; kind: 'escalated'; alert: RaiseResult }
  | { service: string; kind: 'alerted'; alert: RaiseResult }
  | { service: string; kind: 'silenced' | 'waiting-for-dependency' | 'held-by-circuit' };

export interface DeviceEvaluation {
  deviceId: string;
  findings: Finding[];
  steps: StepOutcome[];
  resolved: string[];
}

/**
 * Evaluate one device's merged state. Safe to call on every report (idempotent in effect: rate limits, in-flight
 * checks and alert dedupe absorb repetition). Call it after the state is stored, with the previous state.
 */
export async function evaluateDevice(
  deviceId: string,
  state: Pick<StoredDeviceState, 'services' | 'health'>,
  opts: EvaluateOptions = {},
): Promise<DeviceEvaluation> {
  const now = opts.now ?? Date.now();
  const policy = opts.policy ?? healthPolicy();
  const correlationId = opts.correlationId;
  const services = Object.values(state.services ?? {});
  const result: DeviceEvaluation = {
    deviceId,
    findings: deviceFindings(services, now, policy),
    steps: [],
    resolved: [],
  };

  // What cleared since the previous state. Compared in memory: no read for a device that stays healthy.
  if (opts.previous) {
    const recorded = new Set<string>();
    for (const r of recoveredServices(Object.values(opts.previous.services ?? {}), services, now, policy)) {
      const key = dedupeKeyFor({ alertName: r.alertName, deviceId, service: r.service });
      const res = await resolveAlert(key, { now, correlationId });
      if (res.action !== 'none') result.resolved.push(key);
      await recordEvent(
        { type: 'service.recovered', deviceId, service: r.service, correlationId, detail: { finding: r.alertName } },
        now,
      );
      recorded.add(r.service);
    }
    // A restart the agent made itself (level 1) with no finding in between still is a recovery: record it.
    for (const r of agentRecoveries(opts.previous.services, state.services ?? {})) {
      if (recorded.has(r.service)) continue;
      await recordEvent(
        {
          type: 'service.recovered',
          deviceId,
          service: r.service,
          correlationId,
          detail: { by: 'agent', level: 1, restarts: r.restarts },
        },
        now,
      );
    }
    if (opts.previous.health === 'offline' && state.health !== 'offline') {
      const key = dedupeKeyFor({ alertName: 'DeviceOffline', deviceId });
      const res = await resolveAlert(key, { now, correlationId });
      if (res.action !== 'none') result.resolved.push(key);
      await recordEvent({ type: 'device.online', deviceId, correlationId, detail: {} }, now);
    }
  }
  if (result.findings.length === 0) return result;

  const [markers, circuit, target] = await Promise.all([
    activeMarkers(deviceId, now),
    readCircuit(deviceId, false),
    getTarget(deviceId),
  ]);
  const dependsOn: Record<string, string[]> = {};
  for (const [name, spec] of Object.entries(target?.target.services ?? {})) dependsOn[name] = spec.dependsOn ?? [];
  const steps = planRecovery({
    deviceId,
    findings: result.findings,
    markers,
    circuit,
    dependsOn,
    now,
    correlationId,
    policy,
  });

  let circuitAlerted = false;
  for (const step of steps) {
    const service = step.finding.service;
    const outcome = await carryOut(deviceId, step, { now, correlationId, policy });
    result.steps.push(outcome);
    if (outcome.kind === 'held-by-circuit' && !circuitAlerted) {
      circuitAlerted = true;
      await raiseAlert(
        circuitOpenAlert({
          deviceId,
          openedAtMs: circuit.openedAt ?? now,
          consecutiveFailures: circuit.consecutiveFailures,
          openCount: circuit.openCount,
          retryAtMs: circuit.retryAtEpoch,
          correlationId,
        }),
        { now },
      );
    }
    // `service` is a key Powertools reserves (the Lambda's service name): the device's service goes in `deviceService`.
    logger.info('health finding', {
      deviceId,
      deviceService: service,
      finding: step.finding.kind,
      outcome: outcome.kind,
      correlationId,
    });
  }
  return result;
}

async function carryOut(
  deviceId: string,
  step: PlanStep,
  ctx: { now: number; correlationId?: string; policy: HealthPolicyConfig },
): Promise<StepOutcome> {
  const service = step.finding.service;
  switch (step.kind) {
    case 'silenced':
    case 'wait-for-dependency':
      return { service, kind: step.kind === 'silenced' ? 'silenced' : 'waiting-for-dependency' };
    case 'held-by-circuit':
      return { service, kind: 'held-by-circuit' };
    case 'alert':
      return { service, kind: 'alerted', alert: await raiseAlert(step.alert, { now: ctx.now }) };
    case 'recover': {
      const jobId = newJobId(ctx.now);
      const slot = await tryAcquireRecoverySlot(deviceId, service, jobId, ctx.now, ctx.policy);
      if (!slot.allowed) {
        if (slot.reason === 'in-flight') return { service, kind: 'recovery-in-flight', jobId: slot.jobId };
        metrics.addMetric('recovery_escalations_total', MetricUnit.Count, 1);
        return {
          service,
          kind: 'escalated',
          alert: await raiseAlert(step.escalation(slot.attempts), { now: ctx.now }),
        };
      }
      await enqueueRecoveryJob(deviceId, jobId, step, slot.attemptNumber, ctx);
      return { service, kind: 'recovery-enqueued', jobId, attempt: slot.attemptNumber };
    }
  }
}

/** Level 1 (automated recovery): a job like an operator's, written to the outbox, then published best-effort. */
async function enqueueRecoveryJob(
  deviceId: string,
  jobId: string,
  step: Extract<PlanStep, { kind: 'recover' }>,
  attemptNumber: number,
  ctx: { now: number; correlationId?: string },
): Promise<void> {
  const correlationId = ctx.correlationId ?? jobId;
  const job = newJob({
    jobId,
    deviceId,
    type: step.command.type,
    params: step.command.params as Record<string, unknown>,
    correlationId,
    by: 'health-evaluator',
    now: ctx.now,
  });
  await createJob(job);
  countEnqueued(job.type);
  metrics.addMetric('recoveries_enqueued_total', MetricUnit.Count, 1);
  await recordEvent(
    {
      type: 'recovery.enqueued',
      deviceId,
      service: step.finding.service,
      correlationId,
      detail: { jobId, jobType: job.type, finding: step.finding.kind, attemptInWindow: attemptNumber },
    },
    ctx.now,
  );
  try {
    await publishJob(job);
  } catch (err) {
    logger.warn('recovery job left for the outbox publisher', {
      jobId,
      deviceId,
      error: (err as Error).message,
      correlationId,
    });
  }
}

// ---------------------------------------------------------------- fleet (scheduled)

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

export const handler = forFunction(
  'health-evaluator',
  middy(async () => {
    await evaluateFleet();
    countRunCompleted();
  })
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics)),
);
