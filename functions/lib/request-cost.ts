/**
 * What one request costs in DynamoDB, measured where it is spent: inside `measureDynamoCost`, every call on the
 * shared DynamoDB client asks DynamoDB for its ConsumedCapacity (TOTAL: the same request, no extra charge) and the
 * units are added up for that request alone (AsyncLocalStorage, so concurrent requests in one container do not mix).
 * Outside a measurement the calls are left exactly as the code wrote them.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { MetadataBearer, Pluggable } from '@smithy/types';

export interface DynamoCost {
  /** DynamoDB requests made (a failed conditional write included). */
  calls: number;
  readUnits: number;
  writeUnits: number;
}

const current = new AsyncLocalStorage<DynamoCost>();

// Operation names without their `Command` suffix (the IAM grant test reads command names in the bundled code).
const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);
const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

interface Consumed {
  CapacityUnits?: number;
  ReadCapacityUnits?: number;
  WriteCapacityUnits?: number;
}

/** Runs `fn` and returns what its DynamoDB calls consumed. */
export async function measureDynamoCost<T>(fn: () => Promise<T>): Promise<{ result: T; cost: DynamoCost }> {
  const cost: DynamoCost = { calls: 0, readUnits: 0, writeUnits: 0 };
  const result = await current.run(cost, fn);
  return { result, cost };
}

/** The client middleware that does the counting (functions/lib/aws.ts adds it to the DynamoDB client). */
// biome-ignore lint/suspicious/noExplicitAny: the plugin sits on the client whatever its input and output types.
export const dynamoCostPlugin: Pluggable<any, any> = {
  applyToStack(stack) {
    stack.add(
      (next, context) => async (args) => {
        const cost = current.getStore();
        const op = (context.commandName ?? '').replace(/Command$/, '');
        if (!cost || !(READS.has(op) || WRITES.has(op))) return next(args);
        cost.calls++;
        const input = args.input as Record<string, unknown>;
        const out = await next(
          input.ReturnConsumedCapacity ? args : { ...args, input: { ...input, ReturnConsumedCapacity: 'TOTAL' } },
        );
        const consumed = (out.output as MetadataBearer & { ConsumedCapacity?: Consumed | Consumed[] }).ConsumedCapacity;
        for (const c of Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) {
          if (c.ReadCapacityUnits !== undefined || c.WriteCapacityUnits !== undefined) {
            cost.readUnits += c.ReadCapacityUnits ?? 0;
            cost.writeUnits += c.WriteCapacityUnits ?? 0;
          } else if (READS.has(op)) cost.readUnits += c.CapacityUnits ?? 0;
          else cost.writeUnits += c.CapacityUnits ?? 0;
        }
        return out;
      },
      { step: 'initialize', name: 'fleetmedicRequestCost' },
    );
  },
};
