/**
 * Job rollouts (docs/architecture.md "Rollouts"): each device of a stage gets the rollout's job enqueued through
 * the jobs outbox (services/job-publishing.ts), as an operator enqueues it for one device; the device succeeded
 * when its job SUCCEEDED, failed when it ended otherwise. A job cannot be taken back, so a job rollout's abort
 * stops new devices and leaves the enqueued jobs be (`onAbort: leave`).
 */
import { createHash } from 'node:crypto';
import { getJob, JobExistsError } from '../adapters/jobs-repo.js';
import type { DeviceRecord, RolloutJob } from '../adapters/rollouts-repo.js';
import { JOB_TYPES, type JobType } from '../contract/jobs.js';
import { newJob } from '../domain/job-lifecycle.js';
import type { OnAbort } from '../domain/rollouts/lifecycle.js';
import { enqueueJob } from './job-publishing.js';

/** Jobs read at once while judging a stage. */
const READ_BATCH = 25;

/** Why this job cannot be rolled out, or undefined. */
export function jobRolloutProblem(
  job: RolloutJob,
  onAbort: OnAbort,
): { path: string; code: string; message: string } | undefined {
  if (!JOB_TYPES.includes(job.type as JobType))
    return { path: 'job.type', code: 'unknown_job_type', message: `no job type '${job.type}'` };
  if (job.type === 'set-target-state')
    return { path: 'job.type', code: 'use_target', message: 'a target change is rolled out as a target, not a job' };
  if (onAbort === 'rollback')
    return { path: 'onAbort', code: 'not_reversible', message: 'a job cannot be rolled back: use onAbort "leave"' };
  return undefined;
}

/** The job id of a rollout's device, fixed by the rollout and the device's place in it (a re-run finds it). */
export function rolloutJobId(rolloutId: string, index: number): string {
  return `job_${createHash('sha256').update(`${rolloutId}#${index}`).digest('hex').slice(0, 32)}`;
}

/** Enqueue the device's job (once: a run that died after the record finds the job there). True: it has it. */
export async function enqueueRolloutJob(
  rolloutId: string,
  job: RolloutJob,
  rec: DeviceRecord,
  now: number,
): Promise<boolean> {
  try {
    await enqueueJob(
      newJob({
        jobId: rec.jobId!,
        deviceId: rec.deviceId,
        type: job.type,
        params: job.params,
        correlationId: rolloutId,
        by: `rollout ${rolloutId}`,
        now,
        ...(job.inProgressTimeoutSeconds !== undefined
          ? { inProgressTimeoutSeconds: job.inProgressTimeoutSeconds }
          : {}),
      }),
    );
  } catch (err) {
    if (!(err instanceof JobExistsError)) throw err;
  }
  return true;
}

/** Each in-progress device with its job's status. */
export async function jobsOf(records: readonly DeviceRecord[]): Promise<[DeviceRecord, { status?: string }][]> {
  const out: [DeviceRecord, { status?: string }][] = [];
  for (let i = 0; i < records.length; i += READ_BATCH) {
    const batch = records.slice(i, i + READ_BATCH);
    const jobs = await Promise.all(batch.map((d) => (d.jobId ? getJob(d.jobId) : Promise.resolve(undefined))));
    for (const [k, d] of batch.entries()) out.push([d, jobs[k] ? { status: jobs[k].status } : {}]);
  }
  return out;
}
