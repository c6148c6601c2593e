/**
 * Device credentials and lifecycle: token rotation (by an operator, or asked for by the device itself) and
 * decommissioning. README "Rotating a device token" / "Decommissioning a device" describe the procedures.
 */
import * as z from 'zod/mini';
import { DeviceId, Timestamp } from './common.js';

/** Longest overlap an operator may grant the previous token (7 days). */
export const MAX_TOKEN_OVERLAP_SECONDS = 7 * 86400;
/** The overlap when none is asked for, and the one a device's own renewal gets (24 hours). */
export const DEFAULT_TOKEN_OVERLAP_SECONDS = 86400;

export const RotateDeviceTokenRequest = z
  .strictObject({
    /**
     * How long the token in use until now keeps working beside the new one. 0 revokes it at once (a leaked
     * token): warm API containers may still accept it for up to a minute (their credentials cache).
     */
    overlapSeconds: z.optional(z.int().check(z.minimum(0), z.maximum(MAX_TOKEN_OVERLAP_SECONDS))),
  })
  .register(z.globalRegistry, { id: 'RotateDeviceTokenRequest' });

export const RotatedDeviceToken = z
  .object({
    deviceId: DeviceId,
    /** Shown exactly once; only a salted hash is stored. */
    token: z.string(),
    rotatedAt: Timestamp,
    /** Until when the token used before keeps working; absent when it stopped at once. */
    previousTokenValidUntil: z.optional(Timestamp),
  })
  .register(z.globalRegistry, { id: 'RotatedDeviceToken' });

export const DecommissionedDevice = z
  .object({
    deviceId: DeviceId,
    decommissionedAt: Timestamp,
    /** When DynamoDB's TTL removes what is left of the device (its id can be registered again after that). */
    itemsExpireAt: Timestamp,
    /** Jobs that were still QUEUED or IN_PROGRESS and were cancelled by this call. */
    canceledJobs: z.int(),
  })
  .register(z.globalRegistry, { id: 'DecommissionedDevice' });
