/** Recognising a lost optimistic-concurrency race, for single writes and transactions alike. */
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type DeleteCommand, type PutCommand, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../../lib/aws.js';

export function isConditionFailure(err: unknown): boolean {
  if (err instanceof ConditionalCheckFailedException) return true;
  if (err instanceof TransactionCanceledException) {
    // A transaction cancelled by a condition (or by a concurrent transaction on the same item) is a lost race.
    return (err.CancellationReasons ?? []).some(
      (r) => r.Code === 'ConditionalCheckFailed' || r.Code === 'TransactionConflict',
    );
  }
  const name = (err as { name?: string } | null)?.name;
  return name === 'ConditionalCheckFailedException' || name === 'TransactionConflictException';
}

/** Short full-jitter pause between optimistic retries, so racing writers spread out instead of colliding again. */
export function raceBackoff(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(200, 5 * 2 ** Math.min(attempt, 6));
  return new Promise((r) => setTimeout(r, ms));
}

/** A conditional update of one item. */
export type ConditionalUpdate = UpdateCommandInput & { ConditionExpression: string };

/**
 * Apply a conditional update: true when it was written, false when its condition lost the race. Every other
 * error propagates. One item, never a transaction: no code path needs one (see services/job-failures.ts for why
 * events are written after their transition), and the roles are granted no transactional actions.
 */
export function updateIf(update: ConditionalUpdate): Promise<boolean> {
  return writeIf(new UpdateCommand(update));
}

/**
 * Send one conditional write (put, update or delete): true when it was written, false when its condition failed
 * (the item already exists, moved on, or was taken by a racing writer). Every other error propagates.
 */
export async function writeIf(command: PutCommand | UpdateCommand | DeleteCommand): Promise<boolean> {
  try {
    await documentClient().send(command as UpdateCommand);
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw err;
  }
}
