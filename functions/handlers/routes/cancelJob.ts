/** Cancel a job that is not terminal yet. Retries internally on a concurrent change; terminal → 409. */
import { countOutcome } from '../../adapters/job-metrics.js';
import { getJob, toJob, transitionJob } from '../../adapters/jobs-repo.js';
import { transition } from '../../domain/job-lifecycle.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { actor, operatorName } from '../../http/principal.js';
import { recordOperatorAction } from '../../services/audit.js';

export default defineRoute('cancelJob', async (req) => {
  const { jobId } = req.params;
  for (let race = 0; race < 5; race++) {
    const job = await getJob(jobId);
    if (!job) throw httpError('not_found', `No job ${jobId}`);
    const moved = transition(job, { to: 'CANCELED', by: operatorName(req.principal), now: req.now });
    if (!moved.ok)
      throw httpError('invalid_transition', moved.message, {
        from: moved.from,
        to: moved.to,
        currentVersion: job.version,
      });
    if (await transitionJob(job, moved.job, { now: req.now })) {
      countOutcome({
        type: job.type,
        outcome: 'CANCELED',
        failed: false,
        final: true,
        createdAt: job.createdAt,
        now: req.now,
      });
      await recordOperatorAction(
        {
          action: 'job.cancel',
          target: { kind: 'job', id: jobId },
          deviceId: job.deviceId,
          params: { type: job.type },
        },
        actor(req),
      );
      return { statusCode: 200, body: toJob(moved.job) };
    }
  }
  throw httpError('version_conflict', 'The job kept changing; try again');
});
