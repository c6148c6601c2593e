/** Configuration from the environment, read once per cold start. Missing required values fail loudly. */
import { DAILY_SUMMARY } from '../../infra/spec.js';
import { assertSchedule } from '../domain/daily-summary.js';
import {
  assertLiveness,
  DEFAULT_LIVENESS,
  defaultOfflineAfterSeconds,
  type LivenessSettings,
} from '../domain/liveness.js';

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`configuration error: environment variable ${name} is not set`);
  return v;
}
function int(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`configuration error: ${name}=${v} is not a number`);
  return n;
}

function livenessFromEnv(
  heartbeatSeconds: number,
  offlineAfterSeconds: number | undefined,
  activeSyncSeconds: number,
  activeWindowSeconds: number,
): LivenessSettings {
  return assertLiveness({
    heartbeatSeconds,
    offlineAfterSeconds: offlineAfterSeconds ?? defaultOfflineAfterSeconds(heartbeatSeconds),
    activeSyncSeconds,
    activeWindowSeconds,
  });
}

/** Lazily-evaluated names, so a handler only demands the resources it uses. */
export const config = {
  get fleetTable() {
    return required('FLEET_TABLE');
  },
  get jobsTable() {
    return required('JOBS_TABLE');
  },
  get eventsTable() {
    return required('EVENTS_TABLE');
  },
  get alertsTable() {
    return required('ALERTS_TABLE');
  },
  get rolloutsTable() {
    return required('ROLLOUTS_TABLE');
  },
  get idempotencyTable() {
    return required('IDEMPOTENCY_TABLE');
  },
  get jobsQueueUrl() {
    return required('JOBS_QUEUE_URL');
  },
  get jobsDlqUrl() {
    return required('JOBS_DLQ_URL');
  },
  get alertsQueueUrl() {
    return required('ALERTS_QUEUE_URL');
  },
  get alertsDlqUrl() {
    return required('ALERTS_DLQ_URL');
  },
  get alertTopicArn() {
    return required('ALERT_TOPIC_ARN');
  },
  get operatorAuth(): 'iam' | 'bearer' {
    const v = process.env.OPERATOR_AUTH ?? 'iam';
    if (v !== 'iam' && v !== 'bearer') throw new Error(`configuration error: OPERATOR_AUTH=${v} (iam|bearer)`);
    return v;
  },
  get operatorTokenSecretId() {
    return required('OPERATOR_TOKEN_SECRET_ID');
  },
  get slackWebhookSecretId() {
    return required('SLACK_WEBHOOK_SECRET_ID');
  },
  /** The critical (level 3) channel's webhook secret; unset: those alerts go to the default webhook. */
  get slackCriticalWebhookSecretId(): string | undefined {
    return process.env.SLACK_WEBHOOK_CRITICAL_SECRET_ID || undefined;
  },
  /** The warning (level 2) channel's webhook secret; unset: those alerts go to the default webhook. */
  get slackWarningWebhookSecretId(): string | undefined {
    return process.env.SLACK_WEBHOOK_WARNING_SECRET_ID || undefined;
  },
  /** Secrets Manager name prefix of the registry credentials (`<prefix><name>`); their IAM grants cover exactly it. */
  get registrySecretPrefix() {
    return required('REGISTRY_SECRET_PREFIX');
  },
  /** device-api keeps a resolved registry credential this long (a rotation reaches devices within it + their target poll). */
  get registryCredentialCacheSeconds() {
    return int('REGISTRY_CREDENTIAL_CACHE_SECONDS', 300);
  },
  get circuitFailureThreshold() {
    return int('CIRCUIT_FAILURE_THRESHOLD', 5);
  },
  get circuitCooldownSeconds() {
    return int('CIRCUIT_COOLDOWN_SECONDS', 60);
  },
  get circuitMaxCooldownSeconds() {
    return int('CIRCUIT_MAX_COOLDOWN_SECONDS', 3600);
  },
  /** How long the half-open probe is exclusively owned before another command may probe (its owner may have died). */
  get circuitProbeLeaseSeconds() {
    return int('CIRCUIT_PROBE_LEASE_SECONDS', 120);
  },
  /**
   * Idle sync interval, offline cutoff and the short-interval window, checked against each other
   * (functions/domain/liveness.ts): a contradiction fails the cold start with the keys named.
   */
  get liveness(): LivenessSettings {
    return livenessFromEnv(
      int('HEARTBEAT_SECONDS', DEFAULT_LIVENESS.heartbeatSeconds),
      process.env.OFFLINE_AFTER_SECONDS ? int('OFFLINE_AFTER_SECONDS', 0) : undefined,
      int('ACTIVE_SYNC_SECONDS', DEFAULT_LIVENESS.activeSyncSeconds),
      int('ACTIVE_WINDOW_SECONDS', DEFAULT_LIVENESS.activeWindowSeconds),
    );
  },
  // ---- health evaluation and alerting
  /** MAX_FAILURES / FAILURE_WINDOW: cloud recovery attempts per service per window. */
  /** When and how the daily summary goes out (infra/spec.ts DAILY_SUMMARY gives the defaults). */
  get dailySummary() {
    const allClear = process.env.DAILY_SUMMARY_ALL_CLEAR || DAILY_SUMMARY.allClear;
    if (allClear !== 'post' && allClear !== 'silent')
      throw new Error(`configuration error: DAILY_SUMMARY_ALL_CLEAR=${allClear} is not post or silent`);
    return {
      ...assertSchedule({
        time: process.env.DAILY_SUMMARY_TIME || DAILY_SUMMARY.time,
        timezone: process.env.DAILY_SUMMARY_TIMEZONE || DAILY_SUMMARY.timezone,
      }),
      allClear: allClear as 'post' | 'silent',
    };
  },
  /** RecoverySuccessRateLow: the 24 h success rate below which it fires… */
  get recoveryAlertThreshold() {
    const v = int('RECOVERY_ALERT_THRESHOLD', 0.95);
    if (v <= 0 || v > 1) throw new Error(`configuration error: RECOVERY_ALERT_THRESHOLD=${v} is not in (0, 1]`);
    return v;
  },
  /** …given at least this many attempts in those 24 h. */
  get recoveryAlertMinAttempts() {
    return int('RECOVERY_ALERT_MIN_ATTEMPTS', 20);
  },
  get recoveryMaxAttempts() {
    return int('RECOVERY_MAX_ATTEMPTS', 3);
  },
  get recoveryWindowSeconds() {
    return int('RECOVERY_WINDOW_SECONDS', 300);
  },
  /** Same alert key re-notified at most this often; a resolved key re-firing within it is a flap. */
  get alertCooldownSeconds() {
    return int('ALERT_COOLDOWN_SECONDS', 1800);
  },
  /** Alertmanager group_wait for alerts that group (DeviceOffline, per-device alerts with a cause). */
  get alertGroupWaitSeconds() {
    return int('ALERT_GROUP_WAIT_SECONDS', 60);
  },
  /**
   * Least time between two stage starts of a rollout (the rate is per minute: 60 s). Not a stage setting: only the
   * local fleet and its tests scale it down, as they scale the schedules (docs/architecture.md "Rollouts").
   */
  get rolloutStageSpacingMs() {
    const seconds = int('ROLLOUT_STAGE_SPACING_SECONDS', 60);
    if (!(seconds >= 0)) throw new Error('configuration error: ROLLOUT_STAGE_SPACING_SECONDS must be >= 0');
    return seconds * 1000;
  },
  /** Prefix that turns `docs/runbook.md#x` into a clickable link in Slack (e.g. the repository's blob URL). */
  get runbookBaseUrl(): string | undefined {
    return process.env.RUNBOOK_BASE_URL || undefined;
  },
  // ---- device credentials and abuse limits (docs/architecture.md "What protects the device API")
  /** How long a warm device-api container trusts cached token hashes: the revocation bound (0 disables the cache). */
  get deviceCredentialsCacheSeconds() {
    return int('DEVICE_CREDENTIALS_CACHE_SECONDS', 60);
  },
  /** Per-device token bucket in each warm container: `burst` at once, then `ratePerSecond` (defaults 120, 2/s). */
  get deviceRequestBudget() {
    const ratePerSecond = int('DEVICE_REQUEST_RATE_PER_SECOND', 2);
    const burst = int('DEVICE_REQUEST_BURST', 120);
    if (!(ratePerSecond > 0) || !(burst >= 1))
      throw new Error('configuration error: DEVICE_REQUEST_RATE_PER_SECOND must be > 0 and DEVICE_REQUEST_BURST >= 1');
    return { ratePerSecond, burst };
  },
  // ---- push channel (docs/architecture.md "Push channel")
  /** The WebSocket stage's `@connections` endpoint (https://<api>.execute-api.<region>.amazonaws.com/<stage>). */
  get pushCallbackUrl() {
    return required('PUSH_CALLBACK_URL');
  },
  /** Functions that notify devices get PUSH_CALLBACK_URL; without it they skip the hint and devices find out by polling. */
  get pushEnabled() {
    return !!process.env.PUSH_CALLBACK_URL;
  },
  get serviceVersion() {
    return process.env.FLEETMEDIC_VERSION ?? '0.1.0';
  },
};
