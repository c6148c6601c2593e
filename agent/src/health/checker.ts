/**
 * Runs one health check of any kind against a container through the Docker Engine API.
 * Addresses for http/tcp come from `inspect` and are cached per container; the cache is dropped when the
 * container restarts (its IP may change) and re-resolved once when a network check fails, so a moved
 * container is never declared unhealthy because of a stale address.
 * A check that could not be run (the engine unreachable, slow or refusing) is `unknown`, unless the
 * container turns out not to be running, which is a plain failure.
 */
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import type { HealthCheckSpec } from '#contract/target-state.js';
import { resolveCheckAddress, type CheckAddress, type InspectLike } from './address.js';
import { isEngineUnreachable, withEngineDeadline } from '../engine/availability.js';
import { customProbe, DEFAULT_ENGINE_ALLOWANCE_MS, processProbe, type ProbeOptions } from './exec-probes.js';
import { httpProbe, tcpProbe } from './net-probes.js';
import type { CheckOutcome } from './tracker.js';

export class HealthChecker {
  private readonly addresses = new Map<string, { port: number; address: CheckAddress }>();

  constructor(
    private readonly docker: Docker,
    private readonly probeOptions: ProbeOptions = {},
  ) {}

  /** Forgets the addresses of every container but these (replaced containers never come back). */
  retain(containerIds: ReadonlySet<string>): void {
    for (const id of this.addresses.keys()) if (!containerIds.has(id)) this.addresses.delete(id);
  }

  /** The container restarted or went away: its address must be looked up again. */
  forget(containerId: string): void {
    this.addresses.delete(containerId);
  }

  async check(containerId: string, spec: HealthCheckSpec): Promise<CheckOutcome> {
    const outcome = await this.probe(containerId, spec);
    if (outcome.healthy || outcome.notRunning !== undefined || outcome.unknown === 'engine-unreachable') return outcome;
    // A failure: is the container still running at all? (one inspect, only on the failure path)
    const state = await this.runningState(containerId);
    if (state === false) {
      const { unknown: _couldNotRun, ...failed } = outcome;
      return {
        ...failed,
        notRunning: true,
        message: `container is not running (${outcome.message ?? 'check failed'})`,
      };
    }
    return outcome;
  }

  private async probe(containerId: string, spec: HealthCheckSpec): Promise<CheckOutcome> {
    const timeoutMs = spec.timeoutSeconds * 1000;
    switch (spec.kind) {
      case 'process':
        return processProbe(this.docker, containerId, spec.processName, timeoutMs, this.probeOptions);
      case 'custom':
        return customProbe(this.docker, containerId, spec.command, timeoutMs, this.probeOptions);
      case 'http':
      case 'tcp': {
        const probe = (a: CheckAddress) =>
          spec.kind === 'http' ? httpProbe(a.host, a.port, spec.path, timeoutMs) : tcpProbe(a.host, a.port, timeoutMs);
        const cached = this.addresses.get(containerId);
        if (cached && cached.port === spec.port) {
          const first = await probe(cached.address);
          if (first.healthy) return first;
          const fresh = await this.resolve(containerId, spec.port);
          if ('healthy' in fresh) return { ...first, notRunning: fresh.notRunning };
          if (sameAddress(fresh, cached.address)) return first;
          return probe(fresh);
        }
        const resolved = await this.resolve(containerId, spec.port);
        return 'healthy' in resolved ? resolved : probe(resolved);
      }
    }
  }

  private allowance(): number {
    return this.probeOptions.engineAllowanceMs ?? DEFAULT_ENGINE_ALLOWANCE_MS;
  }

  private async runningState(containerId: string): Promise<boolean | undefined> {
    try {
      const info = (await withEngineDeadline(
        this.docker.getContainer(containerId).inspect(),
        this.allowance(),
        'inspect',
      )) as { State?: { Running?: boolean } };
      return info.State?.Running === true;
    } catch (err) {
      // 404: the container is gone, which is "not running"; anything else: we do not know.
      return (err as { statusCode?: number }).statusCode === 404 ? false : undefined;
    }
  }

  private async resolve(containerId: string, port: number): Promise<CheckAddress | CheckOutcome> {
    const started = performance.now();
    let info: InspectLike & { State?: { Running?: boolean } };
    try {
      info = (await withEngineDeadline(
        this.docker.getContainer(containerId).inspect(),
        this.allowance(),
        'inspect',
      )) as typeof info;
    } catch (err) {
      const gone = (err as { statusCode?: number }).statusCode === 404;
      if (isEngineUnreachable(err))
        return {
          healthy: false,
          unknown: 'engine-unreachable',
          message: `check could not be run: cannot inspect container: ${(err as Error).message}`,
          durationMs: performance.now() - started,
        };
      return {
        healthy: false,
        message: `cannot inspect container: ${(err as Error).message}`,
        durationMs: performance.now() - started,
        notRunning: gone ? true : undefined,
      };
    }
    if (info.State && !info.State.Running)
      return {
        healthy: false,
        message: 'container is not running',
        durationMs: performance.now() - started,
        notRunning: true,
      };
    const address = resolveCheckAddress(info, port);
    if (!address)
      return {
        healthy: false,
        message: `no address for port ${port}: not published and no container IP`,
        durationMs: performance.now() - started,
      };
    this.addresses.set(containerId, { port, address });
    return address;
  }
}

function sameAddress(a: CheckAddress, b: CheckAddress): boolean {
  return a.host === b.host && a.port === b.port;
}
