/**
 * The engine connection: DOCKER_HOST (unix:// or tcp://), any Docker Engine API (Docker, Podman's
 * compatibility API). Only this directory imports dockerode; the planner and backoff never see it.
 *
 * Every call has a deadline: a connection idle for `timeoutMs` (no byte from the engine) is closed and the
 * call fails, so a hung engine can stall neither the loop nor recovery (docs/architecture.md, "Engine
 * outages"). Long-lived streams (events, exec output, pulls) lift it on their own socket and keep their own
 * limits. The default is longer than any single call the agent makes (a stop waits `stopTimeoutSeconds`).
 */
import Docker from 'dockerode';

export const DEFAULT_ENGINE_TIMEOUT_MS = 60_000;

export function dockerFromHost(
  host: string | undefined = process.env.DOCKER_HOST,
  timeoutMs = DEFAULT_ENGINE_TIMEOUT_MS,
): Docker {
  const timeout = timeoutMs > 0 ? timeoutMs : undefined;
  if (!host) return new Docker({ socketPath: '/var/run/docker.sock', timeout });
  if (host.startsWith('unix://')) return new Docker({ socketPath: host.slice('unix://'.length), timeout });
  if (host === process.env.DOCKER_HOST) return new Docker({ timeout }); // dockerode reads DOCKER_HOST and DOCKER_TLS_VERIFY/DOCKER_CERT_PATH
  const url = new URL(host.replace(/^tcp:/, 'http:'));
  return new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: 'http', timeout });
}

/** A local engine shares this machine's filesystem (its data root can be statfs'ed). */
export function isLocalEngine(host: string | undefined = process.env.DOCKER_HOST): boolean {
  return !host || host.startsWith('unix://') || /^tcp:\/\/(127\.0\.0\.1|localhost|\[::1\])(:|$)/.test(host);
}
