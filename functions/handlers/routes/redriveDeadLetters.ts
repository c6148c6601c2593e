/**
 * POST /v1/dlq/redrive — move all (or the messages matching `filter`) back to the source queue, at most
 * `ratePerSecond` per second and `max` in all; `dryRun` only reports what would move. A redriven job message
 * keeps its body, so the job keeps its id and its history; the dispatcher's idempotency absorbs duplicates.
 *
 * The redrive runs inside this request, within a time budget below API Gateway's 29 s: when `max` at
 * `ratePerSecond` needs longer, the answer says how many were redriven (redriven < what remains) and the caller
 * simply repeats the call (the CLI does).
 */
import { redriveDeadLetters } from '../../adapters/dlq.js';
import { logger } from '../../lib/observability.js';
import { defineRoute } from '../../http/types.js';
import { recordOperatorAction } from '../../services/audit.js';
import { actor } from '../../http/principal.js';

/** Milliseconds of redriving one request may spend. */
export const REDRIVE_BUDGET_MS = 20_000;

export const route = defineRoute('redriveDeadLetters', async (req) => {
  const b = req.body;
  const result = await redriveDeadLetters({
    queue: b.queue,
    filter: b.filter,
    dryRun: b.dryRun,
    ratePerSecond: b.ratePerSecond,
    max: b.max,
    deadline: Date.now() + REDRIVE_BUDGET_MS,
  });
  logger.info('dead letters redriven', {
    queue: b.queue,
    filter: b.filter,
    dryRun: b.dryRun,
    matched: result.matched,
    redriven: result.redriven,
    by: req.principal.kind === 'operator' ? req.principal.id : undefined,
  });
  // A dry run changes nothing: it is not an action to audit.
  if (!b.dryRun)
    await recordOperatorAction(
      {
        action: 'dlq.redrive',
        target: { kind: 'dead-letter-queue', id: b.queue },
        params: {
          filter: b.filter,
          ratePerSecond: b.ratePerSecond,
          max: b.max,
          matched: result.matched,
          redriven: result.redriven,
        },
      },
      actor(req),
    );
  return { statusCode: 200, body: result };
});
export default route;
