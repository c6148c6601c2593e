/**
 * Retry-After for 503 circuit_open: the seconds until the circuit admits a probe, plus jitter, so clients
 * refused together do not all come back in the same second (the probe admits only one of them anyway).
 */
export function jitteredRetryAfterSeconds(
  retryAtEpoch: number,
  now: number,
  random: () => number = Math.random,
): number {
  const base = Math.max(1, Math.ceil((retryAtEpoch - now) / 1000));
  const jitter = Math.floor(random() * Math.max(1, Math.min(30, Math.ceil(base * 0.2))));
  return base + jitter;
}
