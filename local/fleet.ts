/**
 * The control plane on one machine: provisioned resources on an AWS endpoint (moto_server, LocalStack),
 * the real handlers behind the local API gateway, SQS pollers acting as event source mappings, the schedules,
 * and the Slack stand-in: one channel per alert level (docs/runbook.md "How alerts reach you") and the pager
 * (local/pager.ts). Used by `npm start`, the end-to-end tests and the bench. One fleet per process:
 * handlers read their configuration from process.env, as in Lambda.
 */
import { provision } from './provision.js';
import { putSecret } from './secrets.js';
import { startApiServer, type AccessLogEntry, type ApiServer } from './http-server.js';
import { createStageThrottle, type StageThrottleLimits } from './stage-throttle.js';
import { startSqsPoller, type BatchOutcome, type SqsPoller } from './sqs-poller.js';
import { startScheduler, type Scheduler, type ScheduleRun } from './scheduler.js';
import { PAGER_CHANNEL, startSlackReceiver, type SlackReceiver } from './slack-receiver.js';
import { provisionPagerRoute, startPagerForwarder } from './pager.js';
import { startWebSocketGateway, type WebSocketGateway, type WebSocketGatewayOptions } from './websocket-gateway.js';
import {
  FUNCTION_ROLES,
  handlersFromDirectory,
  HANDLERS_DIR,
  missingHandlers,
  type FunctionName,
  type HandlerResolver,
} from './handlers.js';
import { resetClients } from '../functions/lib/aws.js';
import { resetSecretCache } from '../functions/adapters/common/secrets.js';
import { resetRegistryCredentialCache } from '../functions/adapters/registry-credentials.js';

import {
  FUNCTIONS,
  QUEUES,
  SCHEDULED_FUNCTIONS,
  type FunctionName as SpecFunctionName,
  type QueueTriggerSpec,
  type ScheduledFunctionName,
} from '../infra/spec.js';

export { SCHEDULED_FUNCTIONS };
export type ScheduledFunction = ScheduledFunctionName;

export interface FleetOptions {
  /** Resource name prefix (tables `<prefix>-fleet`, ...). */
  prefix: string;
  operatorToken: string;
  apiPort?: number;
  apiHost?: string;
  /** Seconds between scheduled runs (EventBridge rate). Default: each schedule's rate in infra/spec.ts. */
  scheduleSeconds?: number;
  /** Per-schedule override in ms (tests). */
  scheduleMs?: Partial<Record<ScheduledFunction, number>>;
  /**
   * A real Slack incoming webhook (every level posts there); without it, a local receiver prints alerts, with a
   * channel per level and the pager.
   */
  slackWebhookUrl?: string;
  /** Where the local Slack receiver prints (null: quiet). */
  slackPrint?: ((line: string) => void) | null;
  slackPort?: number;
  handlersDir?: string;
  /** Overrides handler lookup entirely (tests with fixture handlers). */
  resolve?: HandlerResolver;
  /** Extra handler environment (thresholds, heartbeat...), applied after the defaults. */
  env?: Record<string, string>;
  /** Show handler logs (Powertools INFO) and EMF metrics. Default false: WARN and up, no metrics. */
  verbose?: boolean;
  /** Long-poll wait of the SQS pollers (s). Default 20. */
  pollWaitSeconds?: number;
  log?: (line: string) => void;
  onAccess?: (entry: AccessLogEntry) => void;
  /** Enforce this stage throttle (local/stage-throttle.ts), as the deployed stage does. Default: none. */
  throttle?: StageThrottleLimits;
  onBatch?: (outcome: BatchOutcome) => void;
  onScheduleRun?: (run: ScheduleRun) => void;
  /**
   * The push channel's WebSocket API (local/websocket-gateway.ts): its port (default: any free one) and limits
   * (tests shorten API Gateway's idle and lifetime limits); `false`: no push channel, devices only poll.
   */
  push?:
    | false
    | (Pick<WebSocketGatewayOptions, 'messageRate' | 'idleTimeoutMs' | 'maxConnectionMs' | 'onPost'> & {
        port?: number;
      });
}

export interface Fleet {
  apiUrl: string;
  operatorToken: string;
  /** The handler environment (table names, queue URLs, secret ids...). */
  env: Record<string, string>;
  slack?: SlackReceiver;
  slackWebhookUrl: string;
  /** The local receiver's channels by webhook secret env var (only with the local receiver). */
  slackChannels: { envVar: string; channel: string }[];
  /** The local pager (only with the local receiver): its queue on the alert topic and the channel it posts to. */
  pager?: { queueUrl: string; url: string };
  api: ApiServer;
  /** The push channel (ws:// URL in `push.url`), unless disabled. */
  push?: WebSocketGateway;
  /** The functions' event source mappings, and the local pager's drain. */
  pollers: Partial<Record<'jobs' | 'alerts' | 'pager', SqsPoller>>;
  scheduler: Scheduler;
  /** Handlers whose module does not exist yet, with what is therefore not running. */
  missing: { name: FunctionName; role: string }[];
  /** Run a schedule now instead of waiting for its tick (tests, `npm start`). */
  runSchedule(name: ScheduledFunction): Promise<ScheduleRun>;
  /** Stop taking work: close the API, drain pollers (releasing failed messages), finish scheduled runs. */
  close(opts?: { releaseFailed?: boolean }): Promise<void>;
}

export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const env: Record<string, string> = {
    ...(await provision(opts.prefix)),
    OPERATOR_AUTH: 'bearer',
    OPERATOR_TOKEN_SECRET_ID: `${opts.prefix}/operator-token`,
    SLACK_WEBHOOK_SECRET_ID: `${opts.prefix}/slack-webhook`,
    // Private registry credentials: one secret per credential under this prefix (`fleetmedic registry-credential set`).
    REGISTRY_SECRET_PREFIX: `${opts.prefix}/registry/`,
    // A rotation reaches the local agents within seconds (the cloud default is 300 s, see docs/architecture.md).
    REGISTRY_CREDENTIAL_CACHE_SECONDS: '5',
    POWERTOOLS_SERVICE_NAME: 'fleetmedic',
    POWERTOOLS_METRICS_NAMESPACE: 'Fleetmedic',
    ...(opts.verbose ? {} : { POWERTOOLS_LOG_LEVEL: 'WARN', POWERTOOLS_METRICS_DISABLED: 'true' }),
    // One process serves every device here (one "container"), and tests run agents with clocks scaled down
    // 10-60x: the production per-device budget (2/s) would throttle them. Abuse tests set their own.
    DEVICE_REQUEST_RATE_PER_SECOND: '50',
    DEVICE_REQUEST_BURST: '500',
    ...opts.env,
  };

  const slack = opts.slackWebhookUrl
    ? undefined
    : await startSlackReceiver({ port: opts.slackPort, print: opts.slackPrint });
  const slackWebhookUrl = opts.slackWebhookUrl ?? slack!.url;
  // Secrets hold values, env holds only their ids (never a secret in a plain environment variable).
  await putSecret(env.OPERATOR_TOKEN_SECRET_ID!, opts.operatorToken, 'Fleetmedic local operator bearer token');
  await putSecret(env.SLACK_WEBHOOK_SECRET_ID!, slackWebhookUrl, 'Fleetmedic Slack incoming-webhook URL');
  // The critical and warning channels' own webhooks, as a stage configures them (slackWebhookSecretNameCritical,
  // ...Warning): each a path of the local receiver. A real webhook gets every level, as a stage without them does.
  const slackChannels = slack
    ? [
        { envVar: 'SLACK_WEBHOOK_CRITICAL_SECRET_ID', channel: 'critical' },
        { envVar: 'SLACK_WEBHOOK_WARNING_SECRET_ID', channel: 'warning' },
      ]
    : [];
  for (const c of slackChannels) {
    env[c.envVar] ??= `${opts.prefix}/slack-webhook-${c.channel}`;
    await putSecret(env[c.envVar]!, slack!.channelUrl(c.channel), `Fleetmedic Slack ${c.channel} channel webhook URL`);
  }
  // A fleet started earlier in this process may have set them.
  for (const v of ['SLACK_WEBHOOK_CRITICAL_SECRET_ID', 'SLACK_WEBHOOK_WARNING_SECRET_ID'])
    if (!(v in env)) delete process.env[v];

  Object.assign(process.env, env);
  resetClients();
  resetSecretCache();
  resetRegistryCredentialCache();

  const handlersDir = opts.handlersDir ?? HANDLERS_DIR;
  const resolve = opts.resolve ?? handlersFromDirectory(handlersDir);
  const missing = opts.resolve
    ? []
    : missingHandlers(handlersDir).map((name) => ({ name, role: FUNCTION_ROLES[name] }));
  const isMissing = (n: string) => missing.some((m) => m.name === n);

  const api = await startApiServer({
    resolve,
    port: opts.apiPort ?? 0,
    host: opts.apiHost,
    ...(opts.throttle ? { throttle: createStageThrottle(opts.throttle) } : {}),
    onAccess: (e) => {
      opts.onAccess?.(e);
      // A handler crash must not hide behind a bare 500.
      if (e.error && e.status >= 500) log(`[api] ${e.method} ${e.path} → ${e.status}: ${e.error}`);
    },
  });

  // The push channel: the handlers that notify devices post to its @connections endpoint with the real SDK client.
  let push: WebSocketGateway | undefined;
  if (opts.push !== false && !isMissing('device-socket')) {
    const { port, ...limits } = opts.push ?? {};
    push = await startWebSocketGateway({
      resolve,
      port: port ?? 0,
      host: opts.apiHost,
      // The deployed stage throttles the push routes with the same limits as the HTTP API (cdk/lib/device-push.ts).
      ...(opts.throttle ? { routeThrottle: opts.throttle } : {}),
      ...limits,
      log,
    });
    env.PUSH_CALLBACK_URL = push.callbackUrl;
    process.env.PUSH_CALLBACK_URL = push.callbackUrl;
  } else {
    delete process.env.PUSH_CALLBACK_URL;
  }

  const pollers: Fleet['pollers'] = {};
  // The event source mappings of infra/spec.ts: each queue-triggered function gets a poller on its queue.
  const consumers = (Object.keys(FUNCTIONS) as SpecFunctionName[]).flatMap((fn) => {
    const trigger = FUNCTIONS[fn].trigger;
    if (trigger.kind !== 'queue') return [];
    const key = trigger.queue as 'jobs' | 'alerts';
    return [{ key, queueUrl: env[QUEUES[trigger.queue].envVar]!, fn, trigger: trigger as QueueTriggerSpec }];
  });
  for (const c of consumers) {
    // No consumer deployed: messages wait on the queue, as they would in AWS without the mapping.
    if (isMissing(c.fn)) continue;
    pollers[c.key] = startSqsPoller({
      queueUrl: c.queueUrl,
      functionName: c.fn,
      resolve: () => resolve(c.fn),
      batchSize: c.trigger.batchSize,
      // No batching window here: one local process needs no fuller batches, and tests would only wait longer.
      waitTimeSeconds: opts.pollWaitSeconds ?? 20,
      functionTimeoutMs: FUNCTIONS[c.fn].timeoutSeconds * 1000,
      onBatch: opts.onBatch,
      onError: (err, phase) => {
        if (phase === 'invoke') log(`[${c.fn}] batch failed: ${(err as Error)?.stack ?? String(err)}`);
        else if (phase === 'delete') log(`[${c.fn}] ${phase}: ${(err as Error)?.message ?? String(err)}`);
      },
    });
  }

  // The pager: level 3 alerts by ALERT_ROUTES.pager's filter, drained into the receiver's pager channel.
  let pager: Fleet['pager'];
  if (slack) {
    const route = await provisionPagerRoute(opts.prefix, env.ALERT_TOPIC_ARN!);
    pager = { queueUrl: route.queueUrl, url: slack.channelUrl(PAGER_CHANNEL) };
    pollers.pager = startPagerForwarder({
      queueUrl: route.queueUrl,
      pagerUrl: pager.url,
      waitTimeSeconds: opts.pollWaitSeconds ?? 20,
      onError: (err) => log(`[pager] ${(err as Error)?.message ?? String(err)}`),
    });
  }

  const scheduleEveryMs = (name: ScheduledFunction): number => {
    const trigger = FUNCTIONS[name].trigger;
    const specSeconds = trigger.kind === 'schedule' ? trigger.everyMinutes * 60 : 60;
    return opts.scheduleMs?.[name] ?? (opts.scheduleSeconds ?? specSeconds) * 1000;
  };
  const scheduler = startScheduler(
    SCHEDULED_FUNCTIONS.filter((n) => !isMissing(n)).map((name) => ({
      name,
      resolve: () => resolve(name),
      everyMs: scheduleEveryMs(name),
      timeoutMs: FUNCTIONS[name].timeoutSeconds * 1000,
    })),
    {
      onRun: (r) => {
        opts.onScheduleRun?.(r);
        if (!r.ok) log(`[${r.name}] scheduled run failed: ${r.error}`);
      },
    },
  );

  let closed = false;
  return {
    apiUrl: api.url,
    operatorToken: opts.operatorToken,
    env,
    slack,
    slackWebhookUrl,
    slackChannels,
    pager,
    api,
    push,
    pollers,
    scheduler,
    missing,
    runSchedule: (name) => {
      if (isMissing(name))
        return Promise.resolve({
          name,
          ok: false,
          ms: 0,
          error: `${name} is not available (functions/handlers/${name}.ts missing)`,
        });
      return scheduler.runNow(name);
    },
    async close(closeOpts = {}) {
      if (closed) return;
      closed = true;
      await api.close();
      await push?.close();
      await scheduler.stop();
      // Before a state dump (releaseFailed), drain: nothing may be left hidden where the dump cannot see it.
      await Promise.all(
        Object.values(pollers).map((p) =>
          p.stop({ releaseFailed: closeOpts.releaseFailed, drain: closeOpts.releaseFailed }),
        ),
      );
      await slack?.close();
    },
  };
}
