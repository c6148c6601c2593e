/**
 * Cloud recovery rate-limit windows in FLEET_TABLE: `DEVICE#<id>` / `RECOVERY#<service>` holds the epochs of the
 * recent recovery attempts. The decision is the pure
 * `decideRecoveryAttempt`; the write is conditional on the version that was read, so concurrent evaluations
 * (the per-report one and the scheduled one, several Lambdas) can never admit a 4th attempt between them.
 */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import {
  decideRecoveryAttempt,
  type HealthPolicyConfig,
  type RecoveryAttemptDecision,
} from '../domain/health-policy.js';
import { documentClient } from '../lib/aws.js';
import { config } from '../lib/config.js';
import { isConditionFailure, raceBackoff } from './common/conditions.js';
import { devicePk } from './common/keys.js';

export const recoverySk = (service: string) => `RECOVERY#${service}`;

interface RecoveryItem {
  attempts?: number[];
  version?: number;
  /** The job of the latest attempt. */
  lastJobId?: string;
}

const MAX_RACES = 50;

export async function readRecoveryWindow(
  deviceId: string,
  service: string,
): Promise<{ attempts: number[]; version: number; lastJobId?: string }> {
  const res = await documentClient().send(
    new GetCommand({
      TableName: config.fleetTable,
      Key: { pk: devicePk(deviceId), sk: recoverySk(service) },
      ConsistentRead: true,
    }),
  );
  const item = res.Item as RecoveryItem | undefined;
  return {
    attempts: (item?.attempts ?? []).map(Number),
    version: Number(item?.version ?? 0),
    lastJobId: item?.lastJobId,
  };
}

/**
 * Take one recovery slot for a service, for the job `jobId` the caller is about to enqueue. Allowed: the attempt
 * is recorded (the caller must now enqueue that job). Denied: nothing is written; `rate-limited` means escalate,
 * `in-flight` means the previous recovery job has not finished yet (wait for its outcome).
 */
export async function tryAcquireRecoverySlot(
  deviceId: string,
  service: string,
  jobId: string,
  now: number,
  policy: Pick<HealthPolicyConfig, 'maxRecoveryAttempts' | 'recoveryWindowMs'>,
  /** The previous attempt's job id if that job is still running (it is then not started again). */
  stillRunning: (lastJobId: string | undefined) => Promise<string | undefined>,
): Promise<RecoveryAttemptDecision> {
  for (let attempt = 0; attempt < MAX_RACES; attempt++) {
    const current = await readRecoveryWindow(deviceId, service);
    const inFlightJobId = await stillRunning(current.lastJobId);
    const decision = decideRecoveryAttempt({ attempts: current.attempts, inFlightJobId }, now, policy);
    if (!decision.allowed) return decision;
    try {
      await documentClient().send(
        new PutCommand({
          TableName: config.fleetTable,
          Item: {
            pk: devicePk(deviceId),
            sk: recoverySk(service),
            deviceId,
            service,
            attempts: decision.attempts,
            lastJobId: jobId,
            version: current.version + 1,
            // Kept a day past the window so an operator can still see recent attempts; TTL removes it after.
            expiresAt: Math.floor((now + policy.recoveryWindowMs) / 1000) + 86400,
          },
          ConditionExpression: current.version === 0 ? 'attribute_not_exists(pk)' : 'version = :v',
          ...(current.version === 0 ? {} : { ExpressionAttributeValues: { ':v': current.version } }),
        }),
      );
      return decision;
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      await raceBackoff(attempt);
    }
  }
  throw new Error(`recovery window ${deviceId}/${service}: gave up after ${MAX_RACES} lost races`);
}
