/**
 * A reconnect storm on the push channel, beside the fleet simulator (`npm run bench fleet-sim` runs both;
 * `npm run bench push-storm` this alone): 1,000 simulated devices, each holding its socket with the agent's own
 * PushChannel (agent/src/cloud/push-channel.ts, default backoff), against the local fleet's WebSocket API with the
 * stage's route throttling for a 1,000-device fleet (the same limits `cdk synth` derives). The WebSocket API then
 * goes away for 20 s (every socket closed, new ones refused) and comes back on the same port.
 * Budget (docs/architecture.md "Push channel"): the reconnects spread over ≥ 30 s, and none is refused with 429.
 * `--storm-devices N` for a smaller run (the budget is then not judged).
 */
import { randomBytes } from 'node:crypto';
import type { BenchRow } from '../run.js';

const SUITE = 'fleet-sim';
const BUDGET_DEVICES = 1000;
const OUTAGE_MS = 20_000;

function flag(name: string, fallback: number): number {
  const args = process.argv.slice(2);
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return fallback;
  const v = Number(args[i]!.includes('=') ? args[i]!.split('=')[1] : args[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name}: expected a positive number`);
  return v;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(): Promise<BenchRow[]> {
  const devices = Math.round(flag('storm-devices', BUDGET_DEVICES));
  const savedEnv = { ...process.env };
  Object.assign(process.env, { POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true' });
  const { startFleet } = await import('../../local/fleet.js');
  const { applyAwsTestEnv, startMoto, freePort } = await import('../../local/moto.js');
  const { newOperatorToken } = await import('../../local/secrets.js');
  const { localStageThrottle } = await import('../../local/stage-throttle.js');
  const { startWebSocketGateway } = await import('../../local/websocket-gateway.js');
  const { handlersFromDirectory } = await import('../../local/handlers.js');
  const { PushChannel, DEFAULT_PUSH_TIMING } = await import('../../agent/src/cloud/push-channel.js');
  const { silentLogger } = await import('../../agent/src/log.js');
  const moto = await startMoto({ serialised: true });
  applyAwsTestEnv(moto.endpoint);
  const pushPort = await freePort();
  const limits = localStageThrottle();
  const fleet = await startFleet({
    prefix: `storm${randomBytes(3).toString('hex')}`,
    operatorToken: newOperatorToken(),
    slackPrint: null,
    scheduleSeconds: 3600,
    pollWaitSeconds: 5,
    log: () => {},
    push: { port: pushPort },
    // Registering a thousand devices goes through the HTTP API: unthrottled here; the WebSocket routes get the
    // stage's limits below.
  });
  const channels: InstanceType<typeof PushChannel>[] = [];
  let gateway = fleet.push!;
  try {
    // The fleet's gateway has no route throttle (no HTTP throttle was asked for): replace it with one that has.
    await gateway.close();
    gateway = await startWebSocketGateway({ resolve: handlersFromDirectory(), port: pushPort, routeThrottle: limits });
    const tokens: string[] = [];
    for (let i = 0; i < devices; i += 10) {
      const batch = Array.from({ length: Math.min(10, devices - i) }, (_, k) => `storm-${i + k}`);
      const answers = await Promise.all(
        batch.map(async (deviceId) => {
          const res = await fetch(`${fleet.apiUrl}/v1/devices`, {
            method: 'POST',
            headers: { authorization: `Bearer ${fleet.operatorToken}`, 'content-type': 'application/json' },
            body: JSON.stringify({ deviceId }),
          });
          if (res.status !== 201) throw new Error(`register ${deviceId}: ${res.status}`);
          return ((await res.json()) as { token: string }).token;
        }),
      );
      tokens.push(...answers);
    }
    let phase: 'initial' | 'storm' = 'initial';
    const reconnectedAt: number[] = [];
    for (const token of tokens) {
      const channel = new PushChannel({
        config: { ...DEFAULT_PUSH_TIMING, url: `ws://127.0.0.1:${pushPort}/live` },
        token: () => token,
        onSync: (why) => {
          if (why === 'connected' && phase === 'storm') reconnectedAt.push(Date.now());
        },
        log: silentLogger(),
      });
      channels.push(channel);
      await channel.start();
    }
    const connectedDeadline = Date.now() + 15 * 60_000;
    while (channels.some((c) => !c.connected)) {
      if (Date.now() > connectedDeadline)
        throw new Error(`only ${channels.filter((c) => c.connected).length}/${devices} connected before the outage`);
      await sleep(500);
    }
    // The outage: every socket closed, the endpoint gone for OUTAGE_MS, then back on the same port.
    phase = 'storm';
    await gateway.close();
    await sleep(OUTAGE_MS);
    const backAt = Date.now();
    gateway = await startWebSocketGateway({ resolve: handlersFromDirectory(), port: pushPort, routeThrottle: limits });
    const deadline = Date.now() + 15 * 60_000;
    while (channels.some((c) => !c.connected)) {
      if (Date.now() > deadline)
        throw new Error(`only ${channels.filter((c) => c.connected).length}/${devices} reconnected within 15 min`);
      await sleep(500);
    }
    reconnectedAt.sort((a, b) => a - b);
    const spreadS = (reconnectedAt.at(-1)! - reconnectedAt[0]!) / 1000;
    const refused429 = gateway.stats.throttled;
    const judged = devices >= BUDGET_DEVICES;
    return [
      {
        suite: SUITE,
        metric: `push reconnect storm: ${devices} sockets after a ${OUTAGE_MS / 1000} s outage, first → last reconnect (stage limit ${limits.rateLimit}/s, burst ${limits.burstLimit}); all back ${((reconnectedAt.at(-1)! - backAt) / 1000).toFixed(0)} s after`,
        value: `${spreadS.toFixed(1)} s`,
        budget: '>= 30 s',
        ...(judged ? { ok: spreadS >= 30 } : {}),
      },
      {
        suite: SUITE,
        metric: 'push reconnect storm: $connect refused 429 by the stage throttle',
        value: String(refused429),
        budget: '0',
        ...(judged ? { ok: refused429 === 0 } : {}),
      },
    ];
  } finally {
    await Promise.all(channels.map((c) => c.stop().catch(() => {})));
    await gateway.close().catch(() => {});
    await fleet.close().catch(() => {});
    await moto.stop();
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    Object.assign(process.env, savedEnv);
  }
}
