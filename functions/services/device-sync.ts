/**
 * POST /v1/devices/{id}/sync: one round trip per heartbeat (docs/architecture.md "Device protocol"). The report is
 * stored as POST /reports stores it (report-intake.ts); pending jobs and the target are read concurrently; the
 * interval until the next sync comes from functions/domain/liveness.ts (short while there is work or right after
 * job activity, the idle heartbeat otherwise).
 * Cost of an idle sync (counted by `npm run bench fleet-sim`): the device-token read, one consistent STATE read,
 * one pendingByDevice Query, one TARGET read, one 1-WCU liveness write.
 */
import { getTarget } from '../adapters/devices-repo.js';
import { listPendingForDevice, toJob } from '../adapters/jobs-repo.js';
import type { SyncRequest, SyncResponse } from '../contract/sync.js';
import { nextSyncSeconds } from '../domain/liveness.js';
import { etagOf, ifNoneMatchHits } from '../domain/target-version.js';
import { config } from '../lib/config.js';
import { resolveForDevice } from '../services/device-target.js';
import { storeReport } from './report-intake.js';

export type SyncResult = { kind: 'ok'; body: SyncResponse } | { kind: 'superseded' | 'retired' };

export async function syncDevice(
  deviceId: string,
  request: SyncRequest,
  req: { now: number; correlationId: string },
): Promise<SyncResult> {
  const [intake, jobs, target] = await Promise.all([
    storeReport(deviceId, request.report, req),
    listPendingForDevice(deviceId),
    getTarget(deviceId),
  ]);
  if (intake.outcome.status === 'superseded' || intake.outcome.status === 'retired')
    return { kind: intake.outcome.status };
  // The target as this device is served it: with the registry credentials it names, and their versions in the tag.
  const served = target ? await resolveForDevice(target) : undefined;
  const changed = served !== undefined && !ifNoneMatchHits(request.targetEtag, served.tag);
  return {
    kind: 'ok',
    body: {
      report: {
        status: intake.outcome.status,
        seq: request.report.seq,
        lastSeq: intake.outcome.lastSeq,
        serverTime: new Date(req.now).toISOString(),
      },
      jobs: jobs.map(toJob),
      target: { etag: served ? etagOf(served.tag) : null, changed, ...(changed ? { document: served.doc } : {}) },
      nextSyncSeconds: nextSyncSeconds(
        { pendingJobs: jobs.length, activeUntilEpoch: intake.liveness.activeUntilEpoch, now: req.now },
        config.liveness,
      ),
    },
  };
}
