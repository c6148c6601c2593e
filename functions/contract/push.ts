/**
 * The push channel (docs/architecture.md "Push channel"): a WebSocket API devices keep open. The cloud never sends
 * a command over it, only a hint to sync now; the command itself (jobs, target) travels in the ordinary sync
 * answer, authenticated and idempotent as always. So a lost, late or duplicated notification changes nothing but
 * timing, and nothing secret ever goes through the socket.
 *
 * Frames are JSON text. API Gateway selects the route on `action` ($request.body.action); the only message a
 * device sends is `{"action":"ping"}` (answered `{"type":"pong"}`), anything else reaches `$default` and is
 * answered with an error frame while the connection stays open.
 */
import * as z from 'zod/mini';

/** Why the cloud asks for a sync (for logs and metrics only: the device syncs the same way for each). */
export const PushReason = z.enum(['job', 'target']);
export type PushReason = z.output<typeof PushReason>;

/** Cloud → device: "sync now". */
export const PushNotification = z.object({ type: z.literal('sync'), reason: PushReason });
export type PushNotification = z.output<typeof PushNotification>;

/** Device → cloud. */
export const PushClientMessage = z.strictObject({ action: z.literal('ping') });

/** Cloud → device, the answer to a ping. */
export const PushPong = z.object({ type: z.literal('pong') });

/** Cloud → device, the answer to a message the channel does not understand (the connection stays open). */
export const PushErrorFrame = z.object({
  type: z.literal('error'),
  error: z.literal('bad_message'),
  message: z.string(),
});
export type PushErrorFrame = z.output<typeof PushErrorFrame>;

/** Any frame the cloud sends. */
export const PushServerFrame = z.union([PushNotification, PushPong, PushErrorFrame]);
export type PushServerFrame = z.output<typeof PushServerFrame>;

/** API Gateway's WebSocket frame limit is 128 KB; nothing a device legitimately sends comes near 1 KB. */
export const MAX_CLIENT_FRAME_BYTES = 1024;

/** Close codes the agent uses, so the cloud can tell a device going away from one that is only reconnecting. */
export const CLOSE_CODES = {
  /** The agent is stopping (shutdown): the device is going away. */
  stopping: 1000,
  /** The agent replaces its connection (before API Gateway's idle or lifetime limit): it stays. */
  reconnecting: 4000,
} as const;
