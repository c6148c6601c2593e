/**
 * When each service's container last started (ServiceReport.startedAt: "running since", as `kubectl get pods`
 * shows AGE), read from the engine's inspect (`State.StartedAt`), which the container list does not carry.
 *
 * An inspect per container per cycle would double the idle cycle's engine calls, so a start time is cached by
 * container and read again only when it may have changed: a container not seen before (created, or adopted
 * after an agent restart), one seen not running since, one whose service the agent restarted since (its
 * restart count moved), or after `refreshMs` (the engine's own restart policy restarts without telling us).
 *
 * The reads never hold up a reconcile cycle: Podman answers an inspect only once a stop in progress on that
 * container is over (up to its stop timeout), and a cycle that waited would delay reports long enough to look
 * offline. `refresh` starts the reads it needs and returns; a start time being read is unknown (left out of
 * the report) until its read lands, then the next status update carries it.
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
  private readonly reading = new Map<string, Promise<void>>();

  constructor(
    private readonly source: StartTimeSource,
    private readonly refreshMs = 10 * 60_000,
  ) {}

  /**
   * Brings the cache up to date with this cycle's containers: starts the reads that are due (at most one in
   * flight per container) and returns them, for callers (tests) that want to wait.
   */
  refresh(
    containers: readonly ObservedForStart[],
    restartCountOf: (service: string) => number,
    nowMono: number,
  ): Promise<void>[] {
    const seen = new Set<string>();
    const started: Promise<void>[] = [];
    for (const c of containers) {
      seen.add(c.id);
      if (c.state !== 'running') {
        this.entries.delete(c.id);
        continue;
      }
      const e = this.entries.get(c.id);
      const restarts = restartCountOf(c.service);
      if (e && e.restartCount === restarts && nowMono - e.readAtMono < this.refreshMs) continue;
      if (e && e.restartCount !== restarts) this.entries.delete(c.id); // stale for sure: unknown until read
      if (this.reading.has(c.id)) continue;
      const read = this.source
        .startedAt(c.id)
        .then(
          (startedAt) => void this.entries.set(c.id, { startedAt, restartCount: restarts, readAtMono: nowMono }),
          // Unknown for now (a report simply leaves it out); asked again next cycle.
          () => void this.entries.delete(c.id),
        )
        .finally(() => this.reading.delete(c.id));
      this.reading.set(c.id, read);
      started.push(read);
    }
    for (const id of this.entries.keys()) if (!seen.has(id)) this.entries.delete(id);
    return started;
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
