/**
 * The retry schedule (pure). Kubelet-style exponential backoff per step key, with two additions from the
 * issue: quarantine instead of giving up, and a different budget for permanent errors.
 *
 *   after failure n (1-based):  delay = min(base · factor^(n-1), max)      10s 20s 40s 80s 160s 300s 300s ...
 *   after maxAttempts failures: QUARANTINE, retried every `quarantineRetryMs` (30 min), reported, never abandoned.
 *
 * Permanent errors (image/tag not found, bad credentials, invalid spec) use the same delays (so the 10 s/20 s/…
 * schedule still holds, and a tag pushed a minute after the target was set is still picked up) but are
 * quarantined after `permanentMaxAttempts` (5: 10+20+40+80+160 s ≈ 5 min of trying) instead of 10
 * (≈ 35 min): waiting longer cannot fix them, so the agent stops spending registry round-trips and the device's
 * bandwidth on them sooner, and the error says `permanent: true` from the first failure so the cloud may alert
 * at once instead of after the quarantine. Only a changed target or `retry-now` (resetService) fixes them.
 * Transient errors (registry unreachable, timeout, 5xx, full disk) get the full 10 attempts.
 */

export interface BackoffPolicy {
  baseMs: number;
  factor: number;
  maxMs: number;
  /** Failures before quarantine for transient errors. */
  maxAttempts: number;
  /** Failures before quarantine for permanent errors. */
  permanentMaxAttempts: number;
  /** Slow retry interval while quarantined. */
  quarantineRetryMs: number;
  /** A service that ran healthy this long gets its backoff reset (kubelet: 10 min). */
  healthyResetMs: number;
}

export const DEFAULT_BACKOFF_POLICY: BackoffPolicy = {
  baseMs: 10_000,
  factor: 2,
  maxMs: 300_000,
  maxAttempts: 10,
  permanentMaxAttempts: 5,
  quarantineRetryMs: 30 * 60_000,
  healthyResetMs: 10 * 60_000,
};

export interface RetryDecision {
  /** Delay from the failure to the next allowed attempt. */
  delayMs: number;
  quarantined: boolean;
}

/** What to do after the `attempts`-th consecutive failure. */
export function nextRetry(policy: BackoffPolicy, attempts: number, permanent: boolean): RetryDecision {
  const limit = permanent ? Math.min(policy.permanentMaxAttempts, policy.maxAttempts) : policy.maxAttempts;
  if (attempts >= limit) return { delayMs: policy.quarantineRetryMs, quarantined: true };
  const exp = Math.max(0, attempts - 1);
  return { delayMs: Math.min(policy.baseMs * policy.factor ** exp, policy.maxMs), quarantined: false };
}

/** Scales every duration of a policy (tests run the real schedule at 1/100 speed). */
export function scalePolicy(policy: BackoffPolicy, scale: number): BackoffPolicy {
  return {
    ...policy,
    baseMs: policy.baseMs * scale,
    maxMs: policy.maxMs * scale,
    quarantineRetryMs: policy.quarantineRetryMs * scale,
    healthyResetMs: policy.healthyResetMs * scale,
  };
}
