/**
 * The job the agent is running, for everything that happens on its behalf: while a job runs (cloud/job-runner.ts),
 * its correlation id is on every log line (log.ts) and on every request to the API (cloud/api-client.ts sends it
 * as `x-correlation-id`), so the cloud's logs, events and alerts for that job and the device's own log lines share
 * one id (docs/architecture.md, "Correlation id"). Async-context scoped: the report and sync loops running
 * meanwhile are not part of the job and keep their own ids.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const current = new AsyncLocalStorage<{ correlationId: string }>();

export function runInJobContext<T>(correlationId: string, fn: () => Promise<T>): Promise<T> {
  return current.run({ correlationId }, fn);
}

/** The running job's correlation id, if this code runs on behalf of a job. */
export function jobCorrelationId(): string | undefined {
  return current.getStore()?.correlationId;
}
