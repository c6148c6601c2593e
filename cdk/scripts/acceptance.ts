/**
 * Post-deploy acceptance: proves a deployed (or local) control plane does its job end to end, through its
 * public API only, as an operator and as a device would:
 *   1. GET /v1/health answers ok (and reports the expected version, when given);
 *   2. an operator registers a throw-away test device (SigV4/IAM in AWS, bearer token locally) and puts it
 *      under a maintenance marker first, so the probe never pages anyone when it goes quiet afterwards;
 *   3. the device reports (its own token);
 *   4. the operator enqueues a job for it (run-health-check);
 *   5. the device polls until the job reaches its pending list (jobs queue → dispatcher → DynamoDB);
 *   6. the device moves the job IN_PROGRESS then SUCCEEDED (expectedVersion each time);
 *   7. the operator reads the job back: SUCCEEDED, with its attempt history;
 *   8. the operator decommissions the test device — also when an earlier step failed, so probe devices never pile
 *      up (each would otherwise stay in the fleet, and in the listing, for good).
 * Exits 0 when every step passed, 1 with the failing step otherwise (the deploy workflow rolls back on that).
 *
 *   npx tsx cdk/scripts/acceptance.ts --api-url https://abc.execute-api.eu-west-1.amazonaws.com [--expect-version SHA]
 *   npx tsx cdk/scripts/acceptance.ts --outputs-file cdk-outputs.json [--stack Fleetmedic-prod]
 *   npx tsx cdk/scripts/acceptance.ts --api-url http://127.0.0.1:8787 --token <local operator token>
 *
 * AWS credentials come from the default chain (the CI's OIDC role); they need execute-api:Invoke on the
 * operator routes (the stack's OperatorPolicyArn output, attached via `-c operatorRoleNames=...`).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ApiClient } from '../../functions/cli/api-client.js';
import type { Connection } from '../../functions/cli/connection.js';
import { CliError } from '../../functions/cli/errors.js';
import type { Job, PendingJobs } from '../../functions/contract/jobs.js';
import type * as z from 'zod/mini';
import type { HealthResponse, RegisterDeviceResponse } from '../../functions/contract/operator.js';
import type { ReportAck } from '../../functions/contract/report.js';

export interface AcceptanceOptions {
  apiUrl: string;
  /** Operator bearer token (local mode); without it, operator calls are SigV4-signed (AWS). */
  operatorToken?: string;
  expectVersion?: string;
  /** How long the job may take to reach the device's pending list. */
  dispatchTimeoutMs?: number;
  pollIntervalMs?: number;
  /**
   * How long API Gateway's own IAM denial (403 without the API's error body) is retried: a policy attached in
   * the same deploy (first deploy, `operatorRoleNames`) takes a few seconds to propagate in IAM.
   */
  authWaitMs?: number;
  log?: (line: string) => void;
  /** The HTTP transport (tests inject faults with it); the global fetch by default. */
  fetch?: typeof fetch;
}

export interface StepResult {
  step: string;
  ms: number;
  detail?: string;
}

export class AcceptanceError extends Error {
  constructor(
    readonly step: string,
    message: string,
    readonly results: StepResult[],
  ) {
    super(`acceptance failed at "${step}": ${message}`);
  }
}

export async function runAcceptance(opts: AcceptanceOptions): Promise<StepResult[]> {
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const apiUrl = opts.apiUrl.replace(/\/+$/, '');
  const operatorConnection: Connection = {
    apiUrl,
    auth: opts.operatorToken ? { kind: 'bearer', token: opts.operatorToken } : { kind: 'iam' },
    source: 'flag',
  };
  const transport = opts.fetch ? { fetch: opts.fetch } : {};
  const operator = new ApiClient(operatorConnection, { timeoutMs: 15_000, ...transport });
  const results: StepResult[] = [];

  async function step<T>(name: string, fn: () => Promise<{ value: T; detail?: string }>): Promise<T> {
    const started = performance.now();
    try {
      const { value, detail } = await fn();
      const r: StepResult = { step: name, ms: Math.round(performance.now() - started), ...(detail ? { detail } : {}) };
      results.push(r);
      log(`ok   ${name} (${r.ms} ms)${detail ? `: ${detail}` : ''}`);
      return value;
    } catch (err) {
      log(`FAIL ${name}: ${(err as Error).message}`);
      throw new AcceptanceError(name, (err as Error).message, results);
    }
  }

  await step('GET /v1/health', async () => {
    const { data } = await operator.call<z.output<typeof HealthResponse>>('getHealth');
    if (data.status !== 'ok') throw new Error(`status ${data.status}`);
    if (opts.expectVersion && data.version !== opts.expectVersion) {
      throw new Error(
        `the API reports version ${data.version}, expected ${opts.expectVersion} (the deploy did not take?)`,
      );
    }
    return { value: data, detail: `version ${data.version}` };
  });

  const deviceId = `acceptance-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const registered = await step('register a test device (operator)', async () => {
    const deadline = Date.now() + (opts.authWaitMs ?? 60_000);
    for (;;) {
      try {
        const { data } = await operator.call<z.output<typeof RegisterDeviceResponse>>('registerDevice', {
          body: { deviceId, name: 'post-deploy acceptance probe', labels: { purpose: 'acceptance' } },
        });
        return { value: data, detail: deviceId };
      } catch (err) {
        // Safe to repeat: API Gateway refused the call before any handler ran.
        const gatewayDenied = err instanceof CliError && err.status === 403 && err.code === 'http_403';
        if (!gatewayDenied || Date.now() > deadline) throw err;
        log('     operator call denied by API Gateway (IAM still propagating?), retrying');
        await new Promise((r) => setTimeout(r, 5000));
      }
    }
  });

  try {
    await probeDevice(deviceId, registered.token);
  } catch (err) {
    // Pass or fail, the probe device goes. A failure to remove it after a failed check is logged, never masks it.
    await step('decommission the test device (operator)', () => decommission()).catch(() => undefined);
    throw err;
  }
  await step('decommission the test device (operator)', () => decommission());
  return results;

  async function decommission() {
    const { data } = await operator.call<{ canceledJobs: number }>('decommissionDevice', { params: { deviceId } });
    return { value: undefined, detail: `${deviceId}, ${data.canceledJobs} open job(s) cancelled` };
  }

  async function probeDevice(deviceId: string, token: string): Promise<void> {
    await step('silence the test device (maintenance marker)', async () => {
      await operator.call('setMarker', {
        params: { deviceId },
        body: {
          kind: 'maintenance',
          reason: 'post-deploy acceptance probe: expected to go quiet',
          durationSeconds: 30 * 86400,
        },
      });
      return { value: undefined };
    });

    const device = new ApiClient(
      { apiUrl, auth: { kind: 'bearer', token }, source: 'flag' },
      { timeoutMs: 15_000, ...transport },
    );

    await step('device reports (device token)', async () => {
      const { data } = await device.call<z.output<typeof ReportAck>>('postReport', {
        params: { deviceId },
        body: {
          deviceId,
          seq: 1,
          kind: 'full',
          agentVersion: 'acceptance',
          uptimeSeconds: 1,
          sentAt: new Date().toISOString(),
          services: [],
        },
      });
      if (data.status !== 'applied') throw new Error(`report ${data.status}, expected applied`);
      return { value: data };
    });

    const enqueued = await step('enqueue a job (operator)', async () => {
      const { data } = await operator.call<Job>('enqueueJob', {
        params: { deviceId },
        body: { type: 'run-health-check', params: {} },
      });
      return { value: data, detail: data.jobId };
    });

    const pending = await step('device polls the job (queue → dispatcher)', async () => {
      const deadline = Date.now() + (opts.dispatchTimeoutMs ?? 90_000);
      for (;;) {
        const { data } = await device.call<z.output<typeof PendingJobs>>('getPendingJobs', { params: { deviceId } });
        const job = data.jobs.find((j) => j.jobId === enqueued.jobId);
        if (job) return { value: job, detail: `status ${job.status}` };
        if (Date.now() > deadline)
          throw new Error(`job ${enqueued.jobId} not on the pending list after ${opts.dispatchTimeoutMs ?? 90_000} ms`);
        await new Promise((r) => setTimeout(r, opts.pollIntervalMs ?? 2000));
      }
    });

    const running = await step('device starts the job (IN_PROGRESS)', async () => {
      const { data } = await device.call<Job>('updateJobExecution', {
        params: { deviceId, jobId: pending.jobId },
        body: { status: 'IN_PROGRESS', expectedVersion: pending.version },
      });
      return { value: data };
    });

    await step('device completes the job (SUCCEEDED)', async () => {
      const { data } = await device.call<Job>('updateJobExecution', {
        params: { deviceId, jobId: pending.jobId },
        body: { status: 'SUCCEEDED', expectedVersion: running.version, statusDetails: { probe: 'acceptance' } },
      });
      if (data.status !== 'SUCCEEDED') throw new Error(`job is ${data.status}`);
      return { value: data };
    });

    await step('operator reads the job back', async () => {
      const { data } = await operator.call<Job>('getJob', { params: { jobId: pending.jobId } });
      if (data.status !== 'SUCCEEDED') throw new Error(`job is ${data.status}, expected SUCCEEDED`);
      return { value: data, detail: `${data.status}, version ${data.version}` };
    });
  }
}

/** `cdk deploy --outputs-file` writes {"<stack>": {"ApiUrl": ...}}. */
export function apiUrlFromOutputs(file: string, stack?: string): string {
  const outputs = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, string>>;
  const names = Object.keys(outputs);
  const name = stack ?? (names.length === 1 ? names[0] : undefined);
  if (!name) throw new Error(`${file} holds several stacks (${names.join(', ')}): pass --stack`);
  const url = outputs[name]?.ApiUrl;
  if (!url) throw new Error(`${file} has no ApiUrl output for stack ${name}`);
  return url;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'api-url': { type: 'string' },
      'outputs-file': { type: 'string' },
      stack: { type: 'string' },
      token: { type: 'string' },
      'expect-version': { type: 'string' },
      'dispatch-timeout-seconds': { type: 'string' },
    },
    strict: true,
  });
  const apiUrl =
    values['api-url'] ??
    (values['outputs-file'] ? apiUrlFromOutputs(values['outputs-file'], values.stack) : process.env.FLEETMEDIC_API_URL);
  if (!apiUrl) {
    process.stderr.write(
      'usage: acceptance.ts --api-url URL | --outputs-file cdk-outputs.json [--stack NAME] [--token T] [--expect-version V]\n',
    );
    return 2;
  }
  const token = values.token ?? process.env.FLEETMEDIC_OPERATOR_TOKEN;
  const timeout = values['dispatch-timeout-seconds'];
  process.stdout.write(`acceptance against ${apiUrl} (${token ? 'bearer operator token' : 'SigV4 operator calls'})\n`);
  try {
    const results = await runAcceptance({
      apiUrl,
      ...(token ? { operatorToken: token } : {}),
      ...(values['expect-version'] ? { expectVersion: values['expect-version'] } : {}),
      ...(timeout ? { dispatchTimeoutMs: Number(timeout) * 1000 } : {}),
    });
    process.stdout.write(`acceptance passed: ${results.length} steps, ${results.reduce((s, r) => s + r.ms, 0)} ms\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
