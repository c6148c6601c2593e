/**
 * The deep health check behind `GET /v1/health?deep=1`: every table and queue the operator API uses, probed in
 * parallel with its own role (adapters/reachability.ts), so a failure names the resource that is missing,
 * unreachable or not granted. Resources are named by their logical names, never their physical names or ARNs
 * (the route is public).
 */
import { probeQueue, probeTable, type Reachability } from '../adapters/reachability.js';
import { config } from '../lib/config.js';

export interface ResourceCheck {
  resource: string;
  kind: 'table' | 'queue';
  ok: boolean;
  /** The error's name (e.g. ResourceNotFoundException, AccessDeniedException, TimeoutError) when not ok. */
  error?: string;
}

/** A key no code ever writes, in each table's key schema (infra/spec.ts). */
const PROBE = 'health-check#probe';
const SORTED_KEY = { pk: PROBE, sk: PROBE };

/** The tables and queues the operator API reads or writes (its grants in cdk/lib/access.ts), each with its probe. */
function probes(): { resource: string; kind: ResourceCheck['kind']; probe: () => Promise<Reachability> }[] {
  return [
    { resource: 'fleet', kind: 'table', probe: () => probeTable(config.fleetTable, SORTED_KEY) },
    { resource: 'jobs', kind: 'table', probe: () => probeTable(config.jobsTable, { jobId: PROBE }) },
    { resource: 'events', kind: 'table', probe: () => probeTable(config.eventsTable, SORTED_KEY) },
    { resource: 'alerts', kind: 'table', probe: () => probeTable(config.alertsTable, SORTED_KEY) },
    { resource: 'jobs', kind: 'queue', probe: () => probeQueue(config.jobsQueueUrl) },
    { resource: 'jobs-dlq', kind: 'queue', probe: () => probeQueue(config.jobsDlqUrl) },
    { resource: 'alerts', kind: 'queue', probe: () => probeQueue(config.alertsQueueUrl) },
    { resource: 'alerts-dlq', kind: 'queue', probe: () => probeQueue(config.alertsDlqUrl) },
  ];
}

export function checkResources(): Promise<ResourceCheck[]> {
  return Promise.all(
    probes().map(async ({ resource, kind, probe }) => {
      let result: Reachability;
      try {
        result = await probe();
      } catch {
        // A missing setting (env var) is a failed check too, not a crash of the whole answer.
        result = { ok: false, error: 'NotConfigured' };
      }
      return result.ok ? { resource, kind, ok: true } : { resource, kind, ok: false, error: result.error };
    }),
  );
}
