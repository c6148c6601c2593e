/**
 * Stage configuration from CDK context (`cdk.json` or `cdk deploy -c key=value`), with defaults that deploy
 * into a fresh account. Values given on the command line arrive as strings, values in cdk.json may be typed,
 * so every reader accepts both and rejects what it cannot parse (a typo must not deploy silently).
 */
import type { Node } from 'constructs';
import { DAILY_SUMMARY, DEFAULT_FLEET_SIZE } from '../../infra/spec.js';
import { assertSchedule } from '../../functions/domain/daily-summary.js';
import { capacityFor } from '../../functions/domain/capacity.js';
import { assertLiveness, DEFAULT_LIVENESS, defaultOfflineAfterSeconds } from '../../functions/domain/liveness.js';

/** Context keys of the liveness settings, so a contradiction names what to fix (functions/domain/liveness.ts). */
const LIVENESS_CONTEXT_KEYS = {
  heartbeatSeconds: 'heartbeatSeconds',
  offlineAfterSeconds: 'offlineAfterSeconds',
  activeSyncSeconds: 'activeSyncSeconds',
  activeWindowSeconds: 'activeWindowSeconds',
};

export interface StageConfig {
  /** Stage name: part of the stack name and the metrics namespace (dev, staging, prod...). */
  stage: string;
  /** Secrets Manager NAME of the Slack incoming-webhook URL; only this id reaches the forwarder's env. */
  slackWebhookSecretName: string;
  /**
   * Secrets Manager NAMEs of the critical (level 3) and warning (level 2) channels' webhooks, optional: a level
   * without one is posted to the default webhook (docs/runbook.md "How alerts reach you").
   */
  slackWebhookSecretNameCritical?: string;
  slackWebhookSecretNameWarning?: string;
  /** Secrets Manager name prefix of private registry credentials (`<prefix><name>`); grants cover only it. */
  registrySecretPrefix: string;
  /** Optional e-mail address subscribed to the alert topic. */
  alertEmail?: string;
  /** The pager: an HTTPS endpoint (an incident tool's SNS integration) and/or an e-mail; level 3 and paging alarms. */
  pagerUrl?: string;
  pagerEmail?: string;
  /** Level 2 (WARNING) alerts by e-mail. */
  warningEmail?: string;
  /** AlertsQueueAge: alarm when the oldest alert waiting for the Slack forwarder is older than this. */
  alertsQueueAgeSeconds: number;
  /** CloudFront + WAF in front of the API (cdk/lib/edge-protection.ts); off by default. */
  edgeProtection: boolean;
  /** With edgeProtection outside us-east-1: an existing CLOUDFRONT-scoped web ACL. */
  edgeWebAclArn?: string;
  /** Powertools metrics namespace (EMF); the alarms read the same namespace. */
  metricsNamespace: string;
  /** HighJobFailureRate: alarm when failed / processed jobs exceed this percentage over 5 minutes. */
  jobFailureRatePercent: number;
  /** JobsStuckInQueue: alarm when the oldest queued message or unpublished outbox entry is older than this. */
  stuckJobAgeSeconds: number;
  /** HighHTTPLatency: alarm when the API's p95 latency exceeds this. */
  httpLatencyP95Ms: number;
  /** ApiServerErrors: alarm when more than this percentage of API requests answer 5xx over 5 minutes. */
  apiServerErrorRatePercent: number;
  /** Devices offline above this count raise the DevicesOffline alarm (derived from fleetSize unless given). */
  offlineDevicesThreshold: number;
  /** The declared fleet size: the API throttle and fleet-size-dependent alarms derive from it (functions/domain/capacity.ts). */
  fleetSize: number;
  /** Idle sync interval handed to agents; offline cutoff; short interval and its window (functions/domain/liveness.ts). */
  heartbeatSeconds: number;
  offlineAfterSeconds: number;
  activeSyncSeconds: number;
  activeWindowSeconds: number;
  circuitFailureThreshold: number;
  circuitCooldownSeconds: number;
  circuitMaxCooldownSeconds: number;
  /** API Gateway stage throttling (steady requests per second and burst), derived from fleetSize unless given. */
  apiRateLimit: number;
  apiBurstLimit: number;
  logRetentionDays: number;
  /**
   * Reserve concurrency 1 for the scheduled functions (no overlapping runs). Off by default: a fresh
   * account's concurrency quota (10) cannot spare reserved units and the deploy would fail.
   */
  reserveConcurrency: boolean;
  /** IAM role names that receive the operator-API invoke policy (e.g. the CI deploy role for acceptance). */
  operatorRoleNames: string[];
  /** Base URL of docs/runbook.md as published (alerts link to it); optional. */
  runbookBaseUrl?: string;
  /** The deployed version (CI passes the commit sha); GET /v1/health reports it, acceptance checks it. */
  version?: string;
  /**
   * Recovery and alert tuning, passed through only when given (the code's defaults otherwise: 3 recoveries
   * per 300 s, 1800 s alert cooldown, 60 s grouping window).
   */
  recoveryMaxAttempts?: number;
  recoveryWindowSeconds?: number;
  /** RecoverySuccessRateLow: 24 h success rate threshold (default 0.95) and the attempts it needs (default 20). */
  recoveryAlertThreshold?: number;
  recoveryAlertMinAttempts?: number;
  /** The daily summary's local time (HH:MM), IANA timezone and all-clear behaviour (infra/spec.ts DAILY_SUMMARY). */
  dailySummary: { time: string; timezone: string; allClear: 'post' | 'silent' };
  alertCooldownSeconds?: number;
  alertGroupWaitSeconds?: number;
  /** Destroy tables on stack deletion (throw-away stages only); tables are retained otherwise. */
  destroyTablesOnDelete: boolean;
}

export const DEFAULTS = {
  stage: 'dev',
  jobFailureRatePercent: 10,
  stuckJobAgeSeconds: 300,
  httpLatencyP95Ms: 2000,
  apiServerErrorRatePercent: 5,
  alertsQueueAgeSeconds: 600,
  fleetSize: DEFAULT_FLEET_SIZE,
  circuitFailureThreshold: 5,
  circuitCooldownSeconds: 60,
  circuitMaxCooldownSeconds: 3600,
  logRetentionDays: 30,
} as const;

type Ctx = Pick<Node, 'tryGetContext'>;

function str(node: Ctx, key: string): string | undefined {
  const v: unknown = node.tryGetContext(key);
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
    throw new Error(`context ${key}: expected a string, got ${JSON.stringify(v)}`);
  }
  return String(v);
}

function num(node: Ctx, key: string, fallback: number, min = 0): number {
  const v = str(node, key);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`context ${key}=${v}: expected a number >= ${min}`);
  return n;
}

function optionalNum(node: Ctx, key: string, min = 0): number | undefined {
  return str(node, key) === undefined ? undefined : num(node, key, 0, min);
}

function allClearOf(v: string | undefined): 'post' | 'silent' {
  if (v === undefined) return DAILY_SUMMARY.allClear;
  if (v !== 'post' && v !== 'silent') throw new Error(`dailySummaryAllClear must be post or silent, not ${v}`);
  return v;
}

function bool(node: Ctx, key: string, fallback: boolean): boolean {
  const v = str(node, key);
  if (v === undefined) return fallback;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new Error(`context ${key}=${v}: expected true or false`);
}

/** The stage's settings as the env vars functions/lib/config.ts reads; each function gets the ones it uses. */
export function stageSettings(config: StageConfig): Record<string, string> {
  return {
    // In AWS, API Gateway checks operator calls (SigV4/IAM); a handler never accepts a bearer token there.
    OPERATOR_AUTH: 'iam',
    CIRCUIT_FAILURE_THRESHOLD: String(config.circuitFailureThreshold),
    CIRCUIT_COOLDOWN_SECONDS: String(config.circuitCooldownSeconds),
    CIRCUIT_MAX_COOLDOWN_SECONDS: String(config.circuitMaxCooldownSeconds),
    HEARTBEAT_SECONDS: String(config.heartbeatSeconds),
    OFFLINE_AFTER_SECONDS: String(config.offlineAfterSeconds),
    ACTIVE_SYNC_SECONDS: String(config.activeSyncSeconds),
    ACTIVE_WINDOW_SECONDS: String(config.activeWindowSeconds),
    ...(config.runbookBaseUrl ? { RUNBOOK_BASE_URL: config.runbookBaseUrl } : {}),
    ...(config.version ? { FLEETMEDIC_VERSION: config.version } : {}),
    ...optional('RECOVERY_MAX_ATTEMPTS', config.recoveryMaxAttempts),
    ...optional('RECOVERY_WINDOW_SECONDS', config.recoveryWindowSeconds),
    ...optional('RECOVERY_ALERT_THRESHOLD', config.recoveryAlertThreshold),
    ...optional('RECOVERY_ALERT_MIN_ATTEMPTS', config.recoveryAlertMinAttempts),
    DAILY_SUMMARY_TIME: config.dailySummary.time,
    DAILY_SUMMARY_TIMEZONE: config.dailySummary.timezone,
    DAILY_SUMMARY_ALL_CLEAR: config.dailySummary.allClear,
    ...optional('ALERT_COOLDOWN_SECONDS', config.alertCooldownSeconds),
    ...optional('ALERT_GROUP_WAIT_SECONDS', config.alertGroupWaitSeconds),
  };
}

/** Stage settings that may be left out: the code has a default for each. */
export const OPTIONAL_SETTINGS = new Set([
  'RUNBOOK_BASE_URL',
  'FLEETMEDIC_VERSION',
  'RECOVERY_MAX_ATTEMPTS',
  'RECOVERY_WINDOW_SECONDS',
  'RECOVERY_ALERT_THRESHOLD',
  'RECOVERY_ALERT_MIN_ATTEMPTS',
  'ALERT_COOLDOWN_SECONDS',
  'ALERT_GROUP_WAIT_SECONDS',
]);

function optional(name: string, value: number | undefined): Record<string, string> {
  return value === undefined ? {} : { [name]: String(value) };
}

export function stageConfigFrom(node: Ctx): StageConfig {
  const stage = str(node, 'stage') ?? DEFAULTS.stage;
  if (!/^[a-z][a-z0-9-]{0,20}$/.test(stage))
    throw new Error(`context stage=${stage}: lower-case letters, digits and dashes, at most 21`);
  if (str(node, 'livenessRefreshSeconds') !== undefined) {
    throw new Error(
      'context livenessRefreshSeconds is no longer used: every sign of life is stored (docs/architecture.md "Liveness"); remove it',
    );
  }
  const heartbeatSeconds = num(node, 'heartbeatSeconds', DEFAULT_LIVENESS.heartbeatSeconds, 1);
  const liveness = assertLiveness(
    {
      heartbeatSeconds,
      offlineAfterSeconds: num(node, 'offlineAfterSeconds', defaultOfflineAfterSeconds(heartbeatSeconds), 1),
      activeSyncSeconds: num(node, 'activeSyncSeconds', DEFAULT_LIVENESS.activeSyncSeconds, 1),
      activeWindowSeconds: num(node, 'activeWindowSeconds', DEFAULT_LIVENESS.activeWindowSeconds, 1),
    },
    LIVENESS_CONTEXT_KEYS,
  );
  const fleetSize = num(node, 'fleetSize', DEFAULTS.fleetSize, 1);
  const capacity = capacityFor(fleetSize, liveness);
  const apiRateLimit = num(node, 'apiRateLimit', capacity.apiRateLimit, 1);
  // An explicit throttle below what the declared fleet sends when it behaves would throttle a healthy fleet.
  if (apiRateLimit < capacity.steadyRps) {
    throw new Error(
      `context apiRateLimit=${apiRateLimit} is below the steady ${capacity.steadyRps} requests/s of fleetSize=${fleetSize} (derived: ${capacity.apiRateLimit}); raise it or leave it out`,
    );
  }
  const apiBurstLimit = num(node, 'apiBurstLimit', Math.max(capacity.apiBurstLimit, apiRateLimit), 1);
  if (apiBurstLimit < apiRateLimit)
    throw new Error(`context apiBurstLimit=${apiBurstLimit} is below apiRateLimit=${apiRateLimit}`);
  const alertEmail = str(node, 'alertEmail');
  const runbookBaseUrl = str(node, 'runbookBaseUrl');
  const version = str(node, 'version');
  if (version !== undefined && !/^[\w.+-]{1,64}$/.test(version))
    throw new Error(`context version=${version}: letters, digits, . + - _ only`);
  if (runbookBaseUrl !== undefined && !/^https:\/\/\S+$/.test(runbookBaseUrl))
    throw new Error(`context runbookBaseUrl=${runbookBaseUrl}: expected an https:// URL`);
  if (alertEmail !== undefined && !/^[^@\s]+@[^@\s]+$/.test(alertEmail))
    throw new Error(`context alertEmail=${alertEmail}: not an e-mail address`);
  const pagerUrl = str(node, 'pagerUrl');
  if (pagerUrl !== undefined && !/^https:\/\/\S+$/.test(pagerUrl))
    throw new Error(`context pagerUrl=${pagerUrl}: expected an https:// URL`);
  const pagerEmail = str(node, 'pagerEmail');
  const warningEmail = str(node, 'warningEmail');
  for (const [key, value] of [
    ['pagerEmail', pagerEmail],
    ['warningEmail', warningEmail],
  ] as const)
    if (value !== undefined && !/^[^@\s]+@[^@\s]+$/.test(value))
      throw new Error(`context ${key}=${value}: not an e-mail address`);
  const slackSecrets = {
    slackWebhookSecretName: str(node, 'slackWebhookSecretName') ?? `fleetmedic/${stage}/slack-webhook`,
    slackWebhookSecretNameCritical: str(node, 'slackWebhookSecretNameCritical'),
    slackWebhookSecretNameWarning: str(node, 'slackWebhookSecretNameWarning'),
  };
  // Secrets Manager's name alphabet: a typo fails the synth, not the first page. The value is not echoed: it may be
  // the webhook URL itself (a credential) pasted where its secret's name belongs.
  for (const [key, value] of Object.entries(slackSecrets))
    if (value !== undefined && !/^[\w/+=.@-]{1,512}$/.test(value))
      throw new Error(
        `context ${key}: not a Secrets Manager secret name (letters, digits, /_+=.@-); store the webhook URL in a secret and give its name`,
      );
  return {
    stage,
    slackWebhookSecretName: slackSecrets.slackWebhookSecretName,
    ...defined({
      slackWebhookSecretNameCritical: slackSecrets.slackWebhookSecretNameCritical,
      slackWebhookSecretNameWarning: slackSecrets.slackWebhookSecretNameWarning,
    }),
    registrySecretPrefix: `fleetmedic/${stage}/registry/`,
    ...(alertEmail ? { alertEmail } : {}),
    ...defined({ pagerUrl, pagerEmail, warningEmail }),
    alertsQueueAgeSeconds: num(node, 'alertsQueueAgeSeconds', DEFAULTS.alertsQueueAgeSeconds, 60),
    ...(runbookBaseUrl ? { runbookBaseUrl } : {}),
    ...(version ? { version } : {}),
    ...defined({
      recoveryMaxAttempts: optionalNum(node, 'recoveryMaxAttempts', 1),
      recoveryWindowSeconds: optionalNum(node, 'recoveryWindowSeconds', 1),
      recoveryAlertThreshold: optionalNum(node, 'recoveryAlertThreshold'),
      recoveryAlertMinAttempts: optionalNum(node, 'recoveryAlertMinAttempts', 1),
      alertCooldownSeconds: optionalNum(node, 'alertCooldownSeconds'),
      alertGroupWaitSeconds: optionalNum(node, 'alertGroupWaitSeconds'),
    }),
    // Checked here so a bad value fails the synth, not the evaluator's cold start.
    dailySummary: {
      ...assertSchedule({
        time: str(node, 'dailySummaryTime') ?? DAILY_SUMMARY.time,
        timezone: str(node, 'dailySummaryTimezone') ?? DAILY_SUMMARY.timezone,
      }),
      allClear: allClearOf(str(node, 'dailySummaryAllClear')),
    },
    metricsNamespace: str(node, 'metricsNamespace') ?? `Fleetmedic/${stage}`,
    jobFailureRatePercent: num(node, 'jobFailureRatePercent', DEFAULTS.jobFailureRatePercent),
    stuckJobAgeSeconds: num(node, 'stuckJobAgeSeconds', DEFAULTS.stuckJobAgeSeconds, 1),
    httpLatencyP95Ms: num(node, 'httpLatencyP95Ms', DEFAULTS.httpLatencyP95Ms, 1),
    apiServerErrorRatePercent: num(node, 'apiServerErrorRatePercent', DEFAULTS.apiServerErrorRatePercent),
    offlineDevicesThreshold: num(node, 'offlineDevicesThreshold', capacity.offlineDevicesThreshold),
    fleetSize,
    ...liveness,
    circuitFailureThreshold: num(node, 'circuitFailureThreshold', DEFAULTS.circuitFailureThreshold, 1),
    circuitCooldownSeconds: num(node, 'circuitCooldownSeconds', DEFAULTS.circuitCooldownSeconds, 1),
    circuitMaxCooldownSeconds: num(node, 'circuitMaxCooldownSeconds', DEFAULTS.circuitMaxCooldownSeconds, 1),
    apiRateLimit,
    apiBurstLimit,
    logRetentionDays: num(node, 'logRetentionDays', DEFAULTS.logRetentionDays, 1),
    reserveConcurrency: bool(node, 'reserveConcurrency', false),
    operatorRoleNames: (str(node, 'operatorRoleNames') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    destroyTablesOnDelete: bool(node, 'destroyTablesOnDelete', false),
    edgeProtection: bool(node, 'edgeProtection', false),
    ...defined({ edgeWebAclArn: str(node, 'edgeWebAclArn') }),
  };
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
