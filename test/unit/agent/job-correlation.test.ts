/**
 * The device leg of the correlation id: the agent's API client sends `x-correlation-id` on every request (a fresh
 * id per request, the job's own id for requests made while running a job), and the agent's log lines carry the
 * job's id while it runs. The transport is a recording fetch; the journal and the logger are the real ones.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Job } from '../../../functions/contract/jobs.js';
import { CloudApi } from '../../../agent/src/cloud/api-client.js';
import type { TransportResponse } from '../../../agent/src/cloud/http-transport.js';
import { JobJournal } from '../../../agent/src/cloud/job-journal.js';
import { type JobHandlers, JobRunner } from '../../../agent/src/cloud/job-runner.js';
import { createLogger } from '../../../agent/src/log.js';

const JOB_CORRELATION = '7d1c6f5e-2b7a-4c1e-9f00-0c0ffee00001';

function job(version: number, status: Job['status'] = 'QUEUED'): Job {
  return {
    jobId: 'job_000000000000000000000001',
    deviceId: 'dev-1',
    type: 'run-health-check',
    params: {},
    status,
    version,
    attempt: 1,
    createdAt: '2025-10-24T10:00:00.000Z',
    updatedAt: '2025-10-24T10:00:00.000Z',
    correlationId: JOB_CORRELATION,
    history: [{ attempt: 1, status: 'QUEUED', at: '2025-10-24T10:00:00.000Z', by: 'operator:x' }],
  } as Job;
}

test('requests carry x-correlation-id: fresh per request, the job’s own while running it; log lines too', async () => {
  const sent: { method: string; url: string; correlationId: string | undefined }[] = [];
  let version = 1;
  const fetch = async (url: string, init: { method: string; headers?: Record<string, string> }) => {
    sent.push({ method: init.method, url, correlationId: init.headers?.['x-correlation-id'] });
    const body =
      init.method === 'PUT'
        ? JSON.stringify(job(++version, version === 2 ? 'IN_PROGRESS' : 'SUCCEEDED'))
        : '{"jobs":[]}';
    return {
      status: 200,
      headers: { get: () => null },
      text: async () => body,
    } as unknown as TransportResponse;
  };
  const api = new CloudApi({ baseUrl: 'http://api.test', deviceId: 'dev-1', token: 'dev-1.secret', fetch });
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ json: true, write: (s) => lines.push(JSON.parse(s)) });

  await api.pendingJobs();
  await api.pendingJobs();
  const [a, b] = sent.map((s) => s.correlationId);
  assert.match(a!, /^[0-9a-f-]{36}$/, 'a fresh id on a request of its own');
  assert.notEqual(a, b, 'a fresh id per request');

  const journal = new JobJournal(mkdtempSync(join(tmpdir(), 'fm-journal-')));
  await journal.load();
  const handlers = {
    'run-health-check': () => {
      log.info({ step: 'checking' }, 'a handler logs while the job runs');
      return { ok: true };
    },
  } as unknown as JobHandlers;
  sent.length = 0;
  await new JobRunner(api, journal, handlers, log).process([job(1)]);
  assert.deepEqual(
    sent.map((s) => [s.method, s.correlationId]),
    [
      ['PUT', JOB_CORRELATION],
      ['PUT', JOB_CORRELATION],
    ],
    'IN_PROGRESS and SUCCEEDED carry the job’s id',
  );
  const during = lines.filter((l) => l.msg === 'a handler logs while the job runs' || l.msg === 'job executed');
  assert.equal(during.length, 2);
  for (const l of during) assert.equal(l.correlationId, JOB_CORRELATION, String(l.msg));

  lines.length = 0;
  log.info({}, 'after the job');
  assert.equal(lines[0]!.correlationId, undefined, 'outside a job, no job id');
  await api.pendingJobs();
  assert.notEqual(sent.at(-1)!.correlationId, JOB_CORRELATION);
});
