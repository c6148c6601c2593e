/**
 * Reachability of one table or queue with the function's own role: the cheapest data-plane call on it (a read
 * of an item that never exists; the queue's ARN). A success means the resource exists, answers, and the role
 * may call it; a failure is reported by the error's name only, since a message can carry an ARN or account id.
 */
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient, sqsClient } from '../lib/aws.js';

export type Reachability = { ok: true } | { ok: false; error: string };

/** A probe gives up after this long: a health check must answer well within API Gateway's 30 s. */
const PROBE_TIMEOUT_MS = 3000;

async function reach(call: (abortSignal: AbortSignal) => Promise<unknown>): Promise<Reachability> {
  try {
    await call(AbortSignal.timeout(PROBE_TIMEOUT_MS));
    return { ok: true };
  } catch (err) {
    const name = (err as Error)?.name;
    return { ok: false, error: typeof name === 'string' && /^\w{1,100}$/.test(name) ? name : 'Error' };
  }
}

/** Reads `key` (an item no code writes) from the table: one eventually consistent read, 0.5 RCU. */
export function probeTable(tableName: string, key: Record<string, string>): Promise<Reachability> {
  return reach((abortSignal) =>
    documentClient().send(new GetCommand({ TableName: tableName, Key: key }), { abortSignal }),
  );
}

/** Asks the queue for its ARN (no message is received or counted). */
export function probeQueue(queueUrl: string): Promise<Reachability> {
  return reach((abortSignal) =>
    sqsClient().send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }), {
      abortSignal,
    }),
  );
}
