/**
 * The alert catalogue: every alert's name, severities and escalation levels, runbook anchor and default next step.
 * Part of the alert policy (functions/domain/alerting/): what an alert says, when it is sent, when it is
 * suppressed, how many devices failing together become one message, and when a "resolved" message goes out.
 * Pure: no AWS, `now` (epoch ms) is an argument.
 *
 * Escalation levels follow docs/runbook.md:
 *   level 1  automated recovery   – circuit breakers, retries, recovery jobs. No page: never published.
 *   level 2  manual intervention  – a person must restart/reset/clear something.  Severity WARNING.
 *   level 3  engineering escalation – code/infrastructure change needed, or a fleet-wide outage. Severity CRITICAL.
 * Resolved messages are INFO.
 */
import * as z from 'zod/mini';

/** Every alert Fleetmedic sends; each has a section with this anchor in docs/runbook.md. */
export const ALERT_NAMES = [
  'DeviceOffline',
  'ServiceCrashLoop',
  'ServiceImagePullBackOff',
  'ServiceUnhealthy',
  'RecoveryFailed',
  'CircuitOpen',
  'JobEscalated',
  'HighJobFailureRate',
  'JobsStuckInQueue',
  'HighHTTPLatency',
  'DeadLetters',
  'RunnerDown',
  'ApiServerErrors',
  'DynamoThrottles',
  'DynamoSystemErrors',
  'DevicesOffline',
  'RecoverySuccessRateLow',
  // Not a failure: the once-a-day summary (level 1 / INFO, Slack only), sent through the same path.
  'DailySummary',
  'FunctionErrors',
  'FunctionThrottles',
  'RolloutAborted',
  'RolloutCompletedWithFailures',
  // Any other CloudWatch alarm on the alert topic: posted as it is rather than lost (see domain/alerting/cloudwatch.ts).
  'PlatformAlarm',
] as const;
export const AlertName = z.enum(ALERT_NAMES);
export type AlertName = z.infer<typeof AlertName>;

export const Severity = z.enum(['CRITICAL', 'WARNING', 'INFO']);
export type Severity = z.infer<typeof Severity>;
export type EscalationLevel = 1 | 2 | 3;

const SEVERITY_RANK: Record<Severity, number> = { INFO: 0, WARNING: 1, CRITICAL: 2 };
export const severityRank = (s: Severity) => SEVERITY_RANK[s];

/** Level 1 is never published; only levels 2 and 3 reach people. */
export function severityForLevel(level: EscalationLevel): Severity {
  return level === 3 ? 'CRITICAL' : level === 2 ? 'WARNING' : 'INFO';
}

/** GitHub-style heading anchor: `## DeviceOffline` → `#deviceoffline`. */
export function runbookLink(name: AlertName, base = 'docs/runbook.md'): string {
  return `${base}#${name.toLowerCase()}`;
}

/** The default next step per alert, phrased as a command on-call can run. */
export const NEXT_ACTION: Record<AlertName, string> = {
  DeviceOffline: 'Check power/network at the site; `fleetmedic device <id>` shows the last report.',
  ServiceCrashLoop: 'Read the service logs on the device; `fleetmedic device <id>` shows restarts and the last error.',
  ServiceImagePullBackOff:
    'Fix the image reference or registry credentials in the target state, then `fleetmedic device <id>`.',
  ServiceUnhealthy: 'Check the health-check endpoint and the service logs; `fleetmedic device <id>`.',
  RecoveryFailed: 'Recover by hand (resources, config); silence with `fleetmedic silence` while working on it.',
  CircuitOpen: 'Find why commands fail on this device; `fleetmedic circuit reset <id>` once fixed.',
  JobEscalated: 'Inspect the job history (`fleetmedic device <id>`), fix the cause, re-enqueue the command.',
  HighJobFailureRate: 'Group failures with `fleetmedic dlq list`; look for one failing device or image.',
  JobsStuckInQueue: 'Check the outbox publisher and dispatcher logs; `fleetmedic dlq list`.',
  HighHTTPLatency: 'Check DynamoDB throttling and Lambda duration; see the runbook.',
  DeadLetters: 'Inspect with `fleetmedic dlq list`, fix the cause, then `fleetmedic dlq redrive`.',
  RunnerDown: 'Check the schedule rule, the function’s errors and throttles; `curl <api>/v1/health?deep=1`.',
  ApiServerErrors: '`curl <api>/v1/health?deep=1` names a failing table or queue; then the API functions’ logs.',
  DynamoThrottles: 'Find the hot table/operation; a reconnect storm settles as devices back off.',
  DynamoSystemErrors: 'Check the AWS Health dashboard for DynamoDB; the SDK retries meanwhile.',
  DevicesOffline:
    'One site or the whole fleet? `fleetmedic events --type device.offline`; if all at once, check the API first.',
  RecoverySuccessRateLow:
    '`fleetmedic stats` shows which strategy fails; `fleetmedic events --type service.error` which services and errors.',
  DailySummary: 'Follow up what the summary lists: `fleetmedic stats`, `fleetmedic events --type service.error`.',
  FunctionErrors: 'Read the function’s error logs (the alarm names it); its correlation ids lead to the request.',
  FunctionThrottles: 'Check the account’s Lambda concurrency and the function’s reserved concurrency.',
  RolloutAborted:
    'Read the failures with `fleetmedic rollout status <rollout>`; fix the target, then create a new rollout (an aborted one does not resume).',
  RolloutCompletedWithFailures:
    'List the failed devices with `fleetmedic rollout status <rollout>`; fix each (`fleetmedic device <id>`) or roll a fix out to them.',
  PlatformAlarm: 'Open the alarm in CloudWatch (its name is in the message); add it to the alert catalogue.',
};

/** The default next step; the generic advice names `<id>`, so a page about one device says which. */
export function nextActionFor(alertName: AlertName, deviceId?: string): string {
  return deviceId ? NEXT_ACTION[alertName].replaceAll('<id>', deviceId) : NEXT_ACTION[alertName];
}
