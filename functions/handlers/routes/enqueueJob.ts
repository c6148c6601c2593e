/**
 * Enqueue a command for a device.
 *  - unknown device → 404, nothing written;
 *  - circuit open (or half-open with its probe taken) → 503 circuit_open with details.retryAt and a jittered
 *    Retry-After, nothing written and nothing sent to the device;
 *  - otherwise the job is written (unpublished, in the outbox) and then published to the jobs queue best-effort:
 *    if publishing fails the outbox publisher sends it later, and the answer is still 202.
 * A `set-target-state` command also stores the new target, so the device's next target poll agrees with it.
 * An optional `inProgressTimeoutSeconds` (10..86400) is stored on the job and sets the IN_PROGRESS deadline of
 * every attempt; absent, the job type's default applies (domain/job-lifecycle.ts).
 */
import { admitCommand } from '../../services/circuit-breaker.js';
import { getDeviceMeta, getTarget, putTarget } from '../../adapters/devices-repo.js';
import { toJob } from '../../adapters/jobs-repo.js';
import { enqueueJob } from '../../services/job-publishing.js';
import { newJob } from '../../domain/job-lifecycle.js';
import { targetVersion } from '../../domain/target-version.js';
import { newJobId } from '../../lib/ids.js';
import { httpError } from '../../http/errors.js';
import { defineRoute } from '../../http/types.js';
import { jitteredRetryAfterSeconds } from '../../http/retry-after.js';
import { actor, operatorName } from '../../http/principal.js';
import { recordOperatorAction } from '../../services/audit.js';

export default defineRoute('enqueueJob', async (req) => {
  const { deviceId } = req.params;
  const command = req.body;
  if (!(await getDeviceMeta(deviceId))) throw httpError('not_found', `No device ${deviceId}`);

  const jobId = newJobId(req.now);
  // set-target-state is completed cloud-side by the dispatcher: it must not hold the half-open probe.
  const admission = await admitCommand(
    deviceId,
    jobId,
    { correlationId: req.correlationId, source: jobId, now: req.now },
    { electProbe: command.type !== 'set-target-state' },
  );
  if (!admission.admitted) {
    const retryAt = new Date(admission.retryAtEpoch).toISOString();
    throw httpError(
      'circuit_open',
      `The circuit breaker for ${deviceId} is ${admission.state}; commands are refused until ${retryAt}`,
      { retryAt, state: admission.state, consecutiveFailures: admission.record.consecutiveFailures },
      { 'retry-after': String(jitteredRetryAfterSeconds(admission.retryAtEpoch, req.now)) },
    );
  }

  if (command.type === 'set-target-state') {
    const version = targetVersion(command.params.target);
    const current = await getTarget(deviceId);
    if (current?.version !== version)
      await putTarget(deviceId, { version, updatedAt: new Date(req.now).toISOString(), target: command.params.target });
  }

  const job = newJob({
    jobId,
    deviceId,
    type: command.type,
    params: command.params as Record<string, unknown>,
    correlationId: req.correlationId,
    by: operatorName(req.principal),
    now: req.now,
    ...(command.inProgressTimeoutSeconds !== undefined
      ? { inProgressTimeoutSeconds: command.inProgressTimeoutSeconds }
      : {}),
  });
  await enqueueJob(job);
  // Only the command type: its parameters may carry a whole target, which the job record already keeps.
  await recordOperatorAction(
    { action: 'job.enqueue', target: { kind: 'job', id: jobId }, deviceId, params: { type: command.type } },
    actor(req),
  );
  return { statusCode: 202, headers: { location: `/v1/jobs/${jobId}` }, body: toJob(job) };
});
