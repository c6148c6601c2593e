/**
 * When each service's container last started (ServiceReport.startedAt: "running since", as `kubectl get pods`
 * shows AGE), read from the engine's inspect (`State.StartedAt`), which the container list does not carry.
 *
 * An inspect per container per cycle would double the idle cycle's engine calls, so a start time is cached by
 * container and read again only when it may have changed: a container not seen before (created, or adopted
 * after an agent restart), one seen not running since, one whose service the agent restarted since (its
 * restart count moved), or after `refreshMs` (the engine's own restart policy restarts without telling us).
 */
import type { ContainerState } from '../planner/types.js';

export interface StartTimeSource {
  /** ISO time the container last started, or undefined if the engine does not say. */
  startedAt(containerId: string): Promise<string | undefined>;
}

interface Entry {
  startedAt: string | undefined;
  restartCount: number;
  readAtMono: number;
}

export interface ObservedForStart {
  id: string;
  service: string;
  state: ContainerState | 'unknown';
}

export class StartTimes {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly source: StartTimeSource,
    private readonly refreshMs = 10 * 60_000,
  ) {}

  /** Brings the cache up to date with this cycle's containers; returns how many inspects it made. */
  async refresh(containers: readonly ObservedForStart[], restartCountOf: (service: string) => number, nowMono: number): Promise<number> {
    const seen = new Set<string>();
    const stale: ObservedForStart[] = [];
    for (const c of containers) {
      seen.add(c.id);
      if (c.state !== 'running') {
        this.entries.delete(c.id);
        continue;
      }
      const e = this.entries.get(c.id);
      if (!e || e.restartCount !== restartCountOf(c.service) || nowMono - e.readAtMono >= this.refreshMs) stale.push(c);
    }
    for (const id of this.entries.keys()) if (!seen.has(id)) this.entries.delete(id);
    await Promise.all(
      stale.map(async (c) => {
        try {
          const startedAt = await this.source.startedAt(c.id);
          this.entries.set(c.id, { startedAt, restartCount: restartCountOf(c.service), readAtMono: nowMono });
        } catch {
          // Unknown for now (a report simply leaves it out); asked again next cycle.
          this.entries.delete(c.id);
        }
      }),
    );
    return stale.length;
  }

  get(containerId: string): string | undefined {
    return this.entries.get(containerId)?.startedAt;
  }
}

/** Docker and Podman report a zero time ("0001-01-01T00:00:00Z") for a container that never started. */
export function engineStartedAt(raw: string | undefined): string | undefined {
  if (!raw || raw.startsWith('0001-')) return undefined;
  const t = Date.parse(raw);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}
