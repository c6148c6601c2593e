/**
 * A Lambda-like `context` for handlers invoked in the local fleet. Powertools and middy read
 * functionName, awsRequestId and getRemainingTimeInMillis(); the rest mirrors the real object.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

export const LOCAL_ACCOUNT_ID = '123456789012';

export function localRegion(): string {
  return process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
}

export function lambdaContext(functionName: string, timeoutMs: number, requestId: string = randomUUID()): Context {
  const deadline = Date.now() + timeoutMs;
  const region = localRegion();
  const fail = () => {
    throw new Error('callback-style context methods are not supported by the local fleet; return a promise');
  };
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${LOCAL_ACCOUNT_ID}:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/[$LATEST]${requestId.replace(/-/g, '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: fail,
    fail,
    succeed: fail,
  };
}

/** A Lambda handler as the local fleet calls it: promise style, as middy produces. */
// biome-ignore lint/suspicious/noExplicitAny: each handler takes its own event type; the local fleet only routes them.
export type LocalHandler = (event: any, context: Context) => Promise<unknown>;

/**
 * Invoke with the function's timeout, as Lambda does: a handler still running at the deadline is
 * abandoned (its promise keeps running in this process, which Lambda would freeze) and counts as failed.
 */
export async function invokeWithTimeout(
  handler: LocalHandler,
  event: unknown,
  functionName: string,
  timeoutMs: number,
): Promise<unknown> {
  const context = lambdaContext(functionName, timeoutMs);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LambdaTimeoutError(functionName, timeoutMs)), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([handler(event, context), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class LambdaTimeoutError extends Error {
  constructor(functionName: string, timeoutMs: number) {
    super(`${functionName} timed out after ${timeoutMs} ms`);
    this.name = 'LambdaTimeoutError';
  }
}
