/**
 * Alert builders used across the control plane: the AlertInput for a device gone offline, an open circuit, an
 * escalated job.
 * Part of the alert policy (functions/domain/alerting/): what an alert says, when it is sent, when it is
 * suppressed, how many devices failing together become one message, and when a "resolved" message goes out.
 * Pure: no AWS, `now` (epoch ms) is an argument.
 */
import { dedupeKeyFor, type AlertInput } from './event.js';
import { truncate } from './format.js';

export function deviceOfflineAlert(a: {
  deviceId: string;
  lastSeenEpochMs: number;
  offlineAfterMs: number;
  correlationId?: string;
}): AlertInput {
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
    tried: [
      'commands held while open',
      ...(a.retryAtMs ? [`half-open probe at ${new Date(a.retryAtMs).toISOString()}`] : []),
    ],
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
