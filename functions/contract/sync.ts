/**
 * The device sync: one round trip per heartbeat (docs/architecture.md "Device protocol"). The agent sends its
 * report (full or delta, same sequence idempotency as POST /reports) and the ETag of the target it holds; the
 * answer carries the report's acknowledgement, the device's pending jobs, the target when it changed, and how
 * long the server wants the agent to wait before the next sync.
 */
import * as z from 'zod/mini';
import { Timestamp } from './common.js';
import { Job } from './jobs.js';
import { DeviceReport, MAX_REPORT_BYTES } from './report.js';
import { TargetStateDocument } from './target-state.js';

export const SyncRequest = z
  .strictObject({
    report: DeviceReport,
    /** ETag of the target the agent holds (as GET /target sent it); absent when it holds none. */
    targetEtag: z.optional(z.string().check(z.maxLength(160))),
  })
  .register(z.globalRegistry, { id: 'SyncRequest' });
export type SyncRequest = z.output<typeof SyncRequest>;
export type SyncRequestInput = z.input<typeof SyncRequest>;

export const SyncReportAck = z
  .object({
    /**
     * applied: merged; duplicate: this sequence was already stored; stale: older than the stored `lastSeq`
     * (nothing written; the agent renumbers past `lastSeq`, as after 409 stale_sequence on POST /reports).
     */
    status: z.enum(['applied', 'duplicate', 'stale']),
    seq: z.int(),
    lastSeq: z.int(),
    /** Lets the agent measure its clock offset. */
    serverTime: Timestamp,
  })
  .register(z.globalRegistry, { id: 'SyncReportAck' });
export type SyncReportAck = z.output<typeof SyncReportAck>;

export const SyncTarget = z
  .object({
    /** The current target's ETag; null when no target has been set for the device. */
    etag: z.nullable(z.string()),
    /** The target differs from the `targetEtag` sent: `document` holds it. */
    changed: z.boolean(),
    document: z.optional(TargetStateDocument),
  })
  .register(z.globalRegistry, { id: 'SyncTarget' });
export type SyncTarget = z.output<typeof SyncTarget>;

export const SyncResponse = z
  .object({
    report: SyncReportAck,
    /** Jobs dispatched to this device and not yet terminal, oldest first (as GET /jobs/pending). */
    jobs: z.array(Job),
    target: SyncTarget,
    /** Seconds the server wants the agent to wait before its next sync (short while there is work). */
    nextSyncSeconds: z.int().check(z.minimum(1)),
  })
  .register(z.globalRegistry, { id: 'SyncResponse' });
export type SyncResponse = z.output<typeof SyncResponse>;

/** The report plus the small envelope. */
export const MAX_SYNC_BYTES = MAX_REPORT_BYTES + 1024;
