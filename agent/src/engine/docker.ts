/**
 * The engine connection: DOCKER_HOST (unix:// or tcp://), any Docker Engine API (Docker, Podman's
 * compatibility API). Only this directory imports dockerode; the planner and backoff never see it.
 */
import Docker from 'dockerode';

export function dockerFromHost(host: string | undefined = process.env.DOCKER_HOST): Docker {
  if (!host) return new Docker({ socketPath: '/var/run/docker.sock' });
  if (host.startsWith('unix://')) return new Docker({ socketPath: host.slice('unix://'.length) });
  if (host === process.env.DOCKER_HOST) return new Docker(); // dockerode reads DOCKER_HOST and DOCKER_TLS_VERIFY/DOCKER_CERT_PATH
  const url = new URL(host.replace(/^tcp:/, 'http:'));
  return new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: 'http' });
}

/** A local engine shares this machine's filesystem (its data root can be statfs'ed). */
export function isLocalEngine(host: string | undefined = process.env.DOCKER_HOST): boolean {
  return !host || host.startsWith('unix://') || /^tcp:\/\/(127\.0\.0\.1|localhost|\[::1\])(:|$)/.test(host);
}
