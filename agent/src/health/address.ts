/**
 * Where the agent reaches a container's port for http/tcp checks (pure: works on `docker inspect` data).
 *
 * The check runs from the agent's side, not inside the container (the container may have no curl/bash):
 *  1. host network mode: 127.0.0.1:<port>.
 *  2. the port is published: the host binding (HostIp, or 127.0.0.1 for a wildcard bind) and HostPort. This is
 *     the address that works on every engine, including Docker Desktop and rootless Podman, whose container
 *     IPs are not routable from the host.
 *  3. otherwise the container's IP on its engine network, and the container port. Rootful Docker and rootful
 *     Podman (container-lab: network `podman`, 10.88.0.0/16, IP under NetworkSettings.Networks.podman.IPAddress
 *     and NetworkSettings.IPAddress) route these from the host, so an unpublished port is checkable too.
 * An agent that runs inside a container itself must share a network with the services (or use host
 * networking) for case 3.
 */

export interface InspectLike {
  HostConfig?: { NetworkMode?: string } | null;
  NetworkSettings?: {
    IPAddress?: string;
    Ports?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | null;
    Networks?: Record<string, { IPAddress?: string } | null> | null;
  } | null;
}

export interface CheckAddress {
  host: string;
  port: number;
  via: 'host-network' | 'published-port' | 'container-ip';
}

const WILDCARDS = new Set(['', '0.0.0.0', '::', '[::]']);

export function resolveCheckAddress(inspect: InspectLike, containerPort: number): CheckAddress | null {
  if (inspect.HostConfig?.NetworkMode === 'host')
    return { host: '127.0.0.1', port: containerPort, via: 'host-network' };

  const bindings = inspect.NetworkSettings?.Ports?.[`${containerPort}/tcp`] ?? [];
  for (const b of bindings) {
    const hostPort = Number(b.HostPort);
    if (!Number.isInteger(hostPort) || hostPort <= 0) continue;
    const hostIp = b.HostIp ?? '';
    return { host: WILDCARDS.has(hostIp) ? '127.0.0.1' : hostIp, port: hostPort, via: 'published-port' };
  }

  const networks = inspect.NetworkSettings?.Networks ?? {};
  for (const name of Object.keys(networks).sort()) {
    const ip = networks[name]?.IPAddress;
    if (ip) return { host: ip, port: containerPort, via: 'container-ip' };
  }
  const ip = inspect.NetworkSettings?.IPAddress;
  if (ip) return { host: ip, port: containerPort, via: 'container-ip' };
  return null;
}
