/**
 * What happens when a device's services fail, decided on each stored report (services/report-intake.ts): service
 * findings from the merged state become recovery jobs (rate-limited per service, honouring the circuit breaker
 * and markers, dependencies first) or alerts; findings that cleared since the previous state resolve their
 * alerts. A healthy device costs no read at all.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { raiseAlert, resolveAlert, type RaiseResult } from './alerts.js';
import { recordEvent } from '../adapters/events.js';
import { UnreadableItemError } from '../adapters/common/item-reader.js';
import { getJob } from '../adapters/jobs-repo.js';
import { getTarget } from '../adapters/devices-repo.js';
import { activeMarkers } from '../adapters/markers-repo.js';
import { tryAcquireRecoverySlot } from '../adapters/recovery-repo.js';
import { circuitOpenAlert } from '../domain/alerting/builders.js';
import { dedupeKeyFor, type AlertInput } from '../domain/alerting/event.js';
import {
  deviceFindings,
  planRecovery,
  recoveredServices,
  type Finding,
  type HealthPolicyConfig,
  type PlanStep,
} from '../domain/health-policy.js';
import { isTerminal, newJob } from '../domain/job-lifecycle.js';
import { agentRecoveries, type StoredDeviceState } from '../domain/report-merge.js';
import { newJobId } from '../lib/ids.js';
import { logger, metrics } from '../lib/observability.js';
import { readCircuit } from './circuit-breaker.js';
import { enqueueJob } from './job-publishing.js';
import { healthPolicy } from './health-settings.js';
import { deviceCameBackOnline } from './offline-detection.js';

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
      const resolved = await deviceCameBackOnline(deviceId, { now, correlationId });
      if (resolved) result.resolved.push(resolved);
    }
  }
  if (result.findings.length === 0) return result;

  const [markers, circuit, target] = await Promise.all([
    activeMarkers(deviceId, now),
    readCircuit(deviceId, false),
    getTarget(deviceId),
  ]);
  const dependsOn: Record<string, string[]> = {};
  const offPager = new Set<string>();
  for (const [name, spec] of Object.entries(target?.target.services ?? {})) {
    dependsOn[name] = spec.dependsOn ?? [];
    if (spec.notifyOnFail === false) offPager.add(name);
  }
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
    const outcome = await carryOut(deviceId, step, { now, correlationId, policy, offPager });
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
  ctx: { now: number; correlationId?: string; policy: HealthPolicyConfig; offPager: Set<string> },
): Promise<StepOutcome> {
  const service = step.finding.service;
  // The target's `notifyOnFail: false` keeps the service's alerts off the pager; they are still raised and recorded.
  const routed = (alert: AlertInput): AlertInput =>
    ctx.offPager.has(service) ? { ...alert, notifyOnFail: false } : alert;
  switch (step.kind) {
    case 'silenced':
    case 'wait-for-dependency':
      return { service, kind: step.kind === 'silenced' ? 'silenced' : 'waiting-for-dependency' };
    case 'held-by-circuit':
      return { service, kind: 'held-by-circuit' };
    case 'alert':
      return { service, kind: 'alerted', alert: await raiseAlert(routed(step.alert), { now: ctx.now }) };
    case 'recover': {
      const jobId = newJobId(ctx.now);
      const slot = await tryAcquireRecoverySlot(deviceId, service, jobId, ctx.now, ctx.policy, (lastJobId) =>
        recoveryStillRunning(lastJobId, ctx.now, ctx.policy.recoveryWindowMs),
      );
      if (!slot.allowed) {
        if (slot.reason === 'in-flight') return { service, kind: 'recovery-in-flight', jobId: slot.jobId };
        metrics.addMetric('recovery_escalations_total', MetricUnit.Count, 1);
        return {
          service,
          kind: 'escalated',
          alert: await raiseAlert(routed(step.escalation(slot.attempts)), { now: ctx.now }),
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
  await enqueueJob(job, {
    onStored: async () => {
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
    },
  });
}

/**
 * Is the latest recovery job still on its way (queued or running)? A job older than the window no longer blocks
 * (it is stuck; the timeout sweeper deals with it), and a job that was never written does not either.
 */
async function recoveryStillRunning(
  jobId: string | undefined,
  now: number,
  windowMs: number,
): Promise<string | undefined> {
  if (!jobId) return undefined;
  // A job stored in a shape that cannot be read cannot be followed either: like a stuck one, it does not block.
  const job = await getJob(jobId).catch((err: unknown) => {
    if (err instanceof UnreadableItemError) return undefined;
    throw err;
  });
  if (!job || isTerminal(job.status) || now - Date.parse(job.createdAt) >= windowMs) return undefined;
  return jobId;
}
