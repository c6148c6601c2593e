/**
 * The device moves a job execution on (IoT Jobs UpdateJobExecution) with optimistic concurrency:
 *  - `expectedVersion` ≠ stored version → 409 version_conflict (details.currentVersion), nothing written —
 *    unless it is the replay of the very update that produced the stored version (lost response): 200;
 *  - a transition the lifecycle forbids (terminal states are final) → 409 invalid_transition;
 *  - FAILED takes the shared failure path (services/job-failures.ts: the job type's retry policy re-arms the job
 *    as the next attempt or ends it, `command.failed` and escalation events/alerts, retry publication), and
 *    counts once per failed attempt on the device's circuit breaker;
 *  - SUCCEEDED tells the circuit breaker the device works (no write when it is closed with no failures);
 *  - any accepted update opens the device's short sync window (a follow-up job is likely).
 * All of it is services/job-executions.ts; this route only hands the request over.
 */
import { updateJobExecution } from '../../services/job-executions.js';
import { defineRoute } from '../../http/types.js';

export default defineRoute('updateJobExecution', async (req) => ({
  statusCode: 200,
  body: await updateJobExecution(req.params.deviceId, req.params.jobId, req.body, req.now),
}));
