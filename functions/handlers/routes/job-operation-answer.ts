/** The HTTP answer to an operator's job operation (retry now, dead-letter): shared by both routes. */
import { httpError } from '../../http/errors.js';
import type { RouteResponse } from '../../http/types.js';
import type { JobOperationOutcome } from '../../services/job-operations.js';

export function jobOperationAnswer(jobId: string, outcome: JobOperationOutcome): RouteResponse {
  switch (outcome.kind) {
    case 'done':
      return { statusCode: 200, body: outcome.job };
    case 'not-found':
      throw httpError('not_found', `No job ${jobId}`);
    case 'invalid':
      throw httpError('invalid_transition', outcome.message, {
        from: outcome.status,
        to: 'QUEUED',
        currentVersion: outcome.version,
      });
    case 'conflict':
      throw httpError(
        'version_conflict',
        `Job ${jobId} changed meanwhile (it was at version ${outcome.version}); read it and try again`,
        {
          currentVersion: outcome.version,
        },
      );
  }
}
