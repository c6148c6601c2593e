/**
 * What the health side knows about a service, with the monotonic time the verdict was reached.
 * - healthy: last check passed (or, without a health check, the container runs)
 * - failing: last check failed, below the failure threshold (not acted on, but a failed re-check)
 * - unhealthy: failure threshold reached, or the container is not running
 * - pending: no verdict since the last (re)start (startup delay not over, first check not done)
 * - unknown: it cannot be known right now (the engine is unreachable): nothing is decided, nothing counted
 */
export type HealthVerdict = 'healthy' | 'failing' | 'unhealthy' | 'pending' | 'unknown';
