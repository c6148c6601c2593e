/**
 * API Gateway stage throttling, emulated: one token bucket per stage (steady `rateLimit` requests/s refilling up to
 * `burstLimit`), checked before any Lambda runs, as the deployed `$default` stage does with the figures the stack
 * derives from `fleetSize` (functions/domain/capacity.ts). A request over the limit gets
 * API Gateway's 429 `Too Many Requests` (HTTP APIs send no Retry-After; the agent then waits its default).
 * Kept apart from http-server.ts, which only asks `take()`.
 */
import { DEFAULT_FLEET_SIZE } from '../infra/spec.js';
import { capacityFor } from '../functions/domain/capacity.js';
import { DEFAULT_LIVENESS } from '../functions/domain/liveness.js';

export interface StageThrottleLimits {
  rateLimit: number;
  burstLimit: number;
}

export interface StageThrottle {
  /** True when the request may pass (a token was taken). */
  take(): boolean;
  readonly limits: StageThrottleLimits;
  /** Requests refused so far. */
  readonly refused: number;
}

export function createStageThrottle(
  limits: StageThrottleLimits,
  now: () => number = () => performance.now(),
): StageThrottle {
  if (!(limits.rateLimit > 0) || !(limits.burstLimit >= 1))
    throw new Error(
      `stage throttle: rateLimit ${limits.rateLimit} and burstLimit ${limits.burstLimit} must be positive`,
    );
  let tokens = limits.burstLimit;
  let last = now();
  let refused = 0;
  return {
    limits,
    get refused() {
      return refused;
    },
    take() {
      const t = now();
      tokens = Math.min(limits.burstLimit, tokens + ((t - last) / 1000) * limits.rateLimit);
      last = t;
      if (tokens >= 1) {
        tokens -= 1;
        return true;
      }
      refused++;
      return false;
    },
  };
}

/** The limits the stack gives the stage when nothing is declared: the default fleet size and liveness settings. */
export function localStageThrottle(): StageThrottleLimits {
  const capacity = capacityFor(DEFAULT_FLEET_SIZE, DEFAULT_LIVENESS);
  return { rateLimit: capacity.apiRateLimit, burstLimit: capacity.apiBurstLimit };
}
