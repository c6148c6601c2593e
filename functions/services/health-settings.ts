/** The health policy with this stage's settings (env: offline cutoff, recovery rate limit). */
import { DEFAULT_HEALTH_POLICY, type HealthPolicyConfig } from '../domain/health-policy.js';
import { config } from '../lib/config.js';

export function healthPolicy(): HealthPolicyConfig {
  return {
    ...DEFAULT_HEALTH_POLICY,
    offlineAfterMs: config.liveness.offlineAfterSeconds * 1000,
    maxRecoveryAttempts: config.recoveryMaxAttempts,
    recoveryWindowMs: config.recoveryWindowSeconds * 1000,
  };
}
