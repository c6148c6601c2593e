/**
 * The Slack webhook URL is a credential (its path is the token). The forwarder runs as in Lambda with active
 * tracing: a fake X-Ray daemon (UDP listener on AWS_XRAY_DAEMON_ADDRESS) and the local Slack stand-in. Across a
 * delivery, a retried 500, a revoked webhook (404) and an unreachable one, the secret must be nowhere in what the
 * daemon received nor in the function's output (logs, EMF metrics, error messages), while the Slack calls are
 * still traced (host and status), so tracing was really on.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createTestInfra, type TestInfra } from '../../support/infra.js';
import { startSlackReceiver, type SlackReceiver } from '../../support/slack-receiver.js';
import { createWebhookSecret } from '../../support/alerting.js';

const root = join(import.meta.dirname, '..', '..', '..');
let infra: TestInfra;
let slack: SlackReceiver;
const daemon = createSocket('udp4');
const datagrams: string[] = [];

/** A TCP port nobody listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface TraceDoc {
  name?: string;
  http?: { request?: { url?: string; method?: string }; response?: { status?: number } };
  subsegments?: TraceDoc[];
}

function allSubsegments(doc: TraceDoc): TraceDoc[] {
  return [doc, ...(doc.subsegments ?? []).flatMap(allSubsegments)];
}

before(async () => {
  infra = await createTestInfra();
  slack = await startSlackReceiver({ print: null });
  daemon.on('message', (m) => datagrams.push(m.toString('utf8')));
  await new Promise<void>((r) => daemon.bind(0, '127.0.0.1', () => r()));
});
after(async () => {
  daemon.close();
  await slack.close();
  await infra.close();
});

test('the webhook secret reaches neither X-Ray nor the logs, and the Slack calls are still traced', async () => {
  const token = randomBytes(18).toString('hex');
  const deadToken = randomBytes(18).toString('hex');
  const slackOrigin = new URL(slack.url).origin;
  const live = await createWebhookSecret(`${slackOrigin}/services/T0TRACE/B0LIVE/${token}`);
  const dead = await createWebhookSecret(`http://127.0.0.1:${await deadPort()}/services/T0TRACE/B0DEAD/${deadToken}`);
  // delivered; 500 then delivered on retry; 404 (the webhook was revoked).
  slack.script({ status: 200 }, { status: 500 }, { status: 200 }, { status: 404, body: 'no_service' });
  const steps = [
    { secretId: live, messageId: `ok-${token.slice(0, 6)}`, timeoutMs: 30_000 },
    { secretId: live, messageId: `retry-${token.slice(0, 6)}`, timeoutMs: 30_000 },
    { secretId: live, messageId: `gone-${token.slice(0, 6)}`, timeoutMs: 30_000 },
    { secretId: dead, messageId: `down-${token.slice(0, 6)}`, timeoutMs: 4_000 },
  ];
  const { port } = daemon.address();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_LAMBDA_FUNCTION_NAME: 'fleetmedic-test-slack-forwarder',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    _HANDLER: 'index.handler',
    LAMBDA_TASK_ROOT: root,
    _X_AMZN_TRACE_ID: `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')};Parent=${randomBytes(8).toString('hex')};Sampled=1`,
    AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${port}`,
    AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
    AWS_XRAY_DEBUG_MODE: 'TRUE',
    POWERTOOLS_SERVICE_NAME: 'slack-forwarder',
    POWERTOOLS_LOG_LEVEL: 'DEBUG',
  };
  delete env.POWERTOOLS_TRACE_ENABLED;
  delete env.POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS;
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(root, 'test/support/traced-forwarder.ts'), JSON.stringify(steps)],
      { cwd: root, env, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`forwarder process failed: ${err.message}\n${stderr}`));
        else resolve(`${stdout}\n${stderr}`);
      },
    );
  });

  // The scenario really ran: one delivered, one delivered after a 500, one failed on 404, one on a dead port.
  const results = output
    .split('\n')
    .filter((l) => l.startsWith('RESULT '))
    .map((l) => JSON.parse(l.slice(7)) as { messageId: string; failed?: number; thrown?: string });
  assert.equal(results.length, steps.length, output);
  assert.deepEqual(
    results.map((r) => r.failed === 0),
    [true, true, false, false],
    JSON.stringify(results),
  );
  assert.deepEqual(
    slack.requests.map((r) => r.status),
    [200, 500, 200, 404],
  );
  assert.match(
    output,
    /revoked, wrong, or its channel is gone/,
    'the 404 was logged (so the logs were checked on an error path)',
  );

  for (const secret of [token, deadToken, '/services/T0TRACE']) {
    const inTrace = datagrams.find((d) => d.includes(secret));
    assert.equal(inTrace, undefined, `secret in a trace datagram: ${inTrace}`);
    const line = output.split('\n').find((l) => l.includes(secret));
    assert.equal(line, undefined, `secret in the function's output: ${line}`);
  }

  // The daemon received the traces, Slack calls included (host and status, nothing more).
  const docs = datagrams
    .flatMap((d) => d.split('\n').slice(1))
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as TraceDoc);
  const slackCalls = docs.flatMap(allSubsegments).filter((s) => s.http?.request?.url?.startsWith(slackOrigin));
  assert.deepEqual(
    slackCalls
      .map((s) => s.http?.response?.status)
      .filter((s) => s !== undefined)
      .sort(),
    [200, 200, 404, 500],
    `Slack calls traced: ${JSON.stringify(slackCalls.map((s) => s.http))}`,
  );
  // The secret was read through a traced AWS client (operation recorded, value not).
  assert.ok(
    docs.flatMap(allSubsegments).some((s) => s.name === 'SecretsManager'),
    `AWS calls traced: ${[...new Set(docs.flatMap(allSubsegments).map((s) => s.name))].join(', ')}`,
  );
});
