/**
 * `npm run bench -- rollout`: a fleet rollout over ≥ 1,000 simulated devices on the emulator (moto, the real
 * handlers and the real rollout controller in-process), a configurable share of them failing.
 *
 * The simulated devices are cheap on purpose: a device answers once, when the controller gave it the rollout's
 * target (one report through the real device API: the new version running, or a rollback from it), instead of
 * syncing periodically; a thousand periodically syncing devices saturate the emulator on a small machine, and only
 * the answer to the rollout matters here. The controller runs on a simulated one-minute schedule (`now` advances
 * a period per run), so the figures do not wait on the wall clock.
 *
 * Two rollouts over the same fleet:
 *  1. every device succeeds: DynamoDB units the controller spends per device rolled out (the dynamo-units.ts
 *     meter, DynamoDB's on-demand billing rules); baseline, same run: one operator target change per device by
 *     hand (PUT /v1/devices/{id}/target), what a rollout replaces;
 *  2. `--fail-share` (default 0.3) of the devices roll back: the schedule time from the report that met the abort
 *     criterion to the run that stopped every new move (budget: one controller period), and the devices moved
 *     after the criterion was met (budget 0; those already in flight are counted beside it). Baseline: the
 *     controller period, and the wall time of an idle controller run next to the aborting run's time to decide.
 * Flags: --devices N (default 1000), --fail-share F.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { BenchRow } from '../run.js';
import type { Charge } from '../fleet-sim/dynamo-units.js';

const SUITE = 'rollout';
const PERIOD_MS = 60_000;
const MANUAL_SAMPLE = 20;
const CONCURRENCY = 5;

function flag(name: string, fallback: number): number {
  const args = process.argv;
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i === -1) return fallback;
  const raw = args[i]!.includes('=') ? args[i]!.split('=')[1]! : args[i + 1]!;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`--${name} needs a number, got '${raw}'`);
  return n;
}

const log = (m: string) => process.stderr.write(`[rollout] ${m}\n`);
const fmt = (n: number, digits = 1) => (Number.isInteger(n) ? String(n) : n.toFixed(digits));

/** A deterministic pseudo-random share: the same devices fail in every run. */
function failing(deviceId: string, share: number): boolean {
  return createHash('sha256').update(deviceId).digest().readUInt32BE(0) / 2 ** 32 < share;
}

async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

export async function run(): Promise<BenchRow[]> {
  const devices = Math.max(10, Math.floor(flag('devices', 1000)));
  const failShare = flag('fail-share', 0.3);
  const savedEnv = { ...process.env };
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const { applyAwsTestEnv, startMoto } = await import('../../local/moto.js');
  const moto = await startMoto({ serialised: true });
  applyAwsTestEnv(moto.endpoint);
  try {
    const { provision } = await import('../../local/provision.js');
    const aws = await import('../../functions/lib/aws.js');
    const env = await provision(`br${randomBytes(3).toString('hex')}`);
    Object.assign(process.env, env, { OPERATOR_AUTH: 'iam' });
    aws.resetClients();
    return await measure(env, devices, failShare);
  } finally {
    await moto.stop();
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    Object.assign(process.env, savedEnv);
  }
}

type Scope = 'controller' | 'manual' | 'device';

async function measure(env: Record<string, string>, count: number, failShare: number): Promise<BenchRow[]> {
  const { dynamo } = await import('../../functions/lib/aws.js');
  const { handler: operatorApi } = await import('../../functions/handlers/operator-api.js');
  const { handler: deviceApi } = await import('../../functions/handlers/device-api.js');
  const { invoke } = await import('../../test/support/apigw.js');
  const { meterDynamo } = await import('../fleet-sim/dynamo-units.js');
  const { TargetState } = await import('../../functions/contract/target-state.js');
  const { breach, emptyCounts } = await import('../../functions/domain/rollouts/criteria.js');
  const { deviceRecords, getRollout } = await import('../../functions/adapters/rollouts-repo.js');
  const { advanceRollout, advanceActiveRollouts, createRollout } = await import('../../functions/services/rollouts.js');
  const iam = { userArn: 'arn:aws:iam::123456789012:user/bench' };
  const operator = (call: Record<string, unknown>) => invoke(operatorApi as never, { iam, ...call } as never);

  // ---------------------------------------------------------------- the fleet (not metered)
  const ids = Array.from({ length: count }, (_, i) => `ro-${String(i).padStart(5, '0')}`);
  const tokens = new Map<string, string>();
  const versions = new Map<string, string>();
  const t0 = Date.now();
  await inBatches(ids, CONCURRENCY, async (deviceId) => {
    const reg = await operator({ method: 'POST', path: '/v1/devices', body: { deviceId, labels: { fleet: 'bench' } } });
    if (reg.status !== 201) throw new Error(`register ${deviceId}: ${reg.status} ${reg.raw}`);
    tokens.set(deviceId, reg.body.token as string);
    const put = await operator({
      method: 'PUT',
      path: `/v1/devices/${deviceId}/target`,
      body: { services: { web: { image: 'lab/web:1' } } },
    });
    if (put.status !== 200) throw new Error(`target ${deviceId}: ${put.status} ${put.raw}`);
    versions.set(deviceId, put.body.version as string);
  });
  log(`${count} devices registered with a target in ${fmt((Date.now() - t0) / 1000)} s`);

  const meter = meterDynamo<Scope>(dynamo(), env);
  const units = { controller: 0, manual: 0, device: 0 };
  let abortWrittenAt: number | undefined;
  meter.onCharge((scope, c: Charge, op, input) => {
    units[scope] += c.readUnits + c.writeUnits;
    if (
      op === 'UpdateItemCommand' &&
      input.TableName === env.ROLLOUTS_TABLE &&
      ['rolling-back', 'aborted'].includes(input.ExpressionAttributeValues?.[':to']?.S)
    )
      abortWrittenAt ??= Date.now();
  });

  const seqs = new Map<string, number>();
  /** The simulated device's one answer to the target it was given. */
  const answer = async (deviceId: string, version: string, fails: boolean) => {
    const seq = (seqs.get(deviceId) ?? 0) + 1;
    seqs.set(deviceId, seq);
    const res = await meter.run('device', () =>
      invoke(deviceApi as never, {
        method: 'POST',
        path: `/v1/devices/${deviceId}/reports`,
        token: tokens.get(deviceId)!,
        body: {
          deviceId,
          seq,
          kind: 'full',
          agentVersion: 'bench',
          uptimeSeconds: seq,
          sentAt: new Date().toISOString(),
          targetVersion: fails ? versions.get(deviceId)! : version,
          ...(fails ? { rolledBackFrom: version } : {}),
          services: [{ name: 'web', image: 'lab/web:1', status: 'running' }],
        },
      }),
    );
    if (res.status !== 200) throw new Error(`report ${deviceId}: ${res.status} ${res.raw}`);
  };

  /** Runs the controller on a simulated schedule; moved devices answer after each run. */
  const drive = async (
    rolloutId: string,
    version: string,
    start: number,
    fails: (id: string) => boolean,
    onAnswer?: (id: string, failed: boolean, at: number) => void,
  ) => {
    const answered = new Set<string>();
    let now = start;
    const outcomes: { now: number; kind: string; began: number; wallMs: number }[] = [];
    for (let run = 0; run < 500; run++) {
      const began = Date.now();
      const out = await meter.run('controller', () => advanceRollout(rolloutId, 'bench', now));
      outcomes.push({ now, kind: out.kind, began, wallMs: Date.now() - began });
      const r = (await getRollout(rolloutId))!;
      if (r.status === 'completed' || r.status === 'aborted') return { outcomes, rollout: r };
      const moved = (await deviceRecords(rolloutId, 0, r.deviceCount)).filter(
        (d) => d.status === 'in-progress' && !answered.has(d.deviceId),
      );
      const answerAt = now + 1000;
      await inBatches(moved, CONCURRENCY, async (d) => {
        answered.add(d.deviceId);
        const f = fails(d.deviceId);
        await answer(d.deviceId, version, f);
        onAnswer?.(d.deviceId, f, answerAt);
      });
      now += PERIOD_MS;
    }
    throw new Error(`rollout ${rolloutId} did not finish in 500 controller runs`);
  };

  const rows: BenchRow[] = [];
  const target = (image: string) => TargetState.parse({ services: { web: { image } }, rollbackWindowSeconds: 10 });

  // ---------------------------------------------------------------- 1. units per device rolled out
  const sim0 = Date.now();
  const all = await createRollout(
    {
      selector: { fleet: 'bench' },
      target: target('lab/web:2'),
      canary: { percent: 2 },
      waves: { perMinute: 100, factor: 2 },
      abortCriteria: { failurePercent: 20, minFinished: 10 },
      onAbort: 'rollback',
    },
    'bench',
    sim0,
  );
  if (all.kind !== 'created') throw new Error(`create: ${JSON.stringify(all)}`);
  const before1 = { ...units };
  const wall1 = Date.now();
  const done1 = await drive(all.rollout.rolloutId, all.rollout.target!.version, sim0, () => false);
  const ctrlUnits = units.controller - before1.controller;
  const deviceUnits = units.device - before1.device;
  const rolled = done1.rollout.stages.reduce((n, s) => n + s.counts.succeeded, 0);
  log(
    `rollout 1: ${done1.rollout.status}, ${rolled} devices in ${done1.outcomes.length} runs, ${fmt((Date.now() - wall1) / 1000)} s wall`,
  );
  if (done1.rollout.status !== 'completed' || rolled !== count)
    throw new Error(`rollout 1 ended ${done1.rollout.status} with ${rolled} of ${count} succeeded`);
  for (const [id] of versions) versions.set(id, all.rollout.target!.version);

  // Baseline: moving devices one by one by hand.
  const beforeManual = units.manual;
  await inBatches(ids.slice(0, MANUAL_SAMPLE), CONCURRENCY, async (deviceId) => {
    const res = await meter.run('manual', () =>
      operator({
        method: 'PUT',
        path: `/v1/devices/${deviceId}/target`,
        body: { services: { web: { image: 'lab/web:manual' } } },
      }),
    );
    if (res.status !== 200) throw new Error(`manual target ${deviceId}: ${res.status} ${res.raw}`);
    versions.set(deviceId, res.body.version as string);
  });
  const perDevice = ctrlUnits / rolled;
  const manualPerDevice = (units.manual - beforeManual) / MANUAL_SAMPLE;
  rows.push({
    suite: SUITE,
    metric: `DynamoDB units per device rolled out (controller; ${count} devices, ${done1.outcomes.length} runs)`,
    value: fmt(perDevice, 2),
    baseline: `${fmt(manualPerDevice, 2)} (one target PUT by hand)`,
    ratio: `${fmt(perDevice / manualPerDevice, 2)}×`,
  });
  rows.push({
    suite: SUITE,
    metric: 'DynamoDB units per device: its one answer (device API report)',
    value: fmt(deviceUnits / rolled, 2),
  });

  // ---------------------------------------------------------------- 2. abort: stop time, devices touched after
  const idleBegan = Date.now();
  await meter.run('controller', () => advanceActiveRollouts(sim0 + 1000 * PERIOD_MS));
  const idleWallMs = Date.now() - idleBegan;

  const sim1 = sim0 + 1000 * PERIOD_MS;
  const criteria = { failurePercent: 20, minFinished: 20 };
  const bad = await createRollout(
    {
      selector: { fleet: 'bench' },
      target: target('lab/web:3'),
      canary: { percent: 1 },
      waves: { perMinute: 50, factor: 2 },
      abortCriteria: criteria,
      onAbort: 'rollback',
    },
    'bench',
    sim1,
  );
  if (bad.kind !== 'created') throw new Error(`create: ${JSON.stringify(bad)}`);
  const stages = bad.rollout.stages;
  const stageOf = new Map<string, number>();
  const setIds = [...ids].sort();
  for (const [i, s] of stages.entries()) for (let k = s.start; k < s.end; k++) stageOf.set(setIds[k]!, i);
  // The bench's own tally of the answers, judged with the controller's criteria: when was the criterion met?
  const tally = stages.map(() => emptyCounts());
  const whole = emptyCounts();
  let metAt: number | undefined;
  let inFlightAtMet = 0;
  const answeredSoFar = new Set<string>();
  let movedSoFar = 0;
  abortWrittenAt = undefined;
  const done2 = await drive(
    bad.rollout.rolloutId,
    bad.rollout.target!.version,
    sim1,
    (id) => failing(id, failShare),
    (id, failed, at) => {
      answeredSoFar.add(id);
      const s = stageOf.get(id)!;
      for (const c of [tally[s]!, whole]) c[failed ? 'failed' : 'succeeded']++;
      if (metAt !== undefined) return;
      const met =
        breach(tally[s]!, criteria, stages[s]!.name, stages[s]!.end - stages[s]!.start) ??
        breach(whole, criteria, 'rollout', bad.rollout.deviceCount);
      if (met) {
        metAt = at;
        movedSoFar = answeredSoFar.size;
      }
    },
  );
  const records = await deviceRecords(bad.rollout.rolloutId, 0, bad.rollout.deviceCount);
  const moved = records.filter((d) => d.movedAt !== undefined);
  inFlightAtMet = moved.filter((d) => metAt !== undefined && d.movedAt! <= metAt).length - movedSoFar;
  const abortRun = done2.outcomes.find((o) => o.kind === 'aborted');
  log(
    `rollout 2: ${done2.rollout.status} (${done2.rollout.abort?.detail ?? 'no abort'}), ${moved.length} moved of ${count}`,
  );
  if (metAt === undefined || !abortRun)
    throw new Error(
      `rollout 2 (fail share ${failShare}) did not abort: ${done2.rollout.status}; raise --fail-share above ${criteria.failurePercent / 100}`,
    );
  const touchedAfter = moved.filter((d) => d.movedAt! > metAt!).length;
  const stopMs = abortRun.now - metAt;
  rows.push({
    suite: SUITE,
    metric: `criterion met → no new device moved (schedule time; fail share ${failShare})`,
    value: `${fmt(stopMs / 1000)} s`,
    baseline: `${PERIOD_MS / 1000} s (controller period)`,
    ratio: fmt(stopMs / PERIOD_MS, 2),
    budget: '≤ 1 period',
    ok: stopMs <= PERIOD_MS,
  });
  if (abortWrittenAt === undefined) throw new Error('the abort was never written to the rollout');
  const decideMs = abortWrittenAt - abortRun.began;
  rows.push({
    suite: SUITE,
    metric: 'the aborting run: wall time from its start to the abort written (no move after it)',
    value: `${fmt(decideMs / 1000, 2)} s`,
    baseline: `${fmt(idleWallMs / 1000, 2)} s (an idle controller run)`,
    ratio: `${fmt(decideMs / Math.max(1, idleWallMs), 1)}×`,
  });
  rows.push({
    suite: SUITE,
    metric: 'the aborting run: wall time in all (with the rollback of the moved devices)',
    value: `${fmt(abortRun.wallMs / 1000, 2)} s`,
  });
  rows.push({
    suite: SUITE,
    metric: `devices moved after the criterion was met (${moved.length} moved of ${count}, ${inFlightAtMet} in flight then)`,
    value: String(touchedAfter),
    baseline: `${inFlightAtMet} in flight`,
    budget: '0',
    ok: touchedAfter === 0,
  });
  rows.push({
    suite: SUITE,
    metric: 'moved devices given their previous target back',
    value: `${records.filter((d) => d.rollback === 'restored').length} of ${moved.length}`,
    ok: records.filter((d) => d.rollback === 'restored').length === moved.length,
  });
  await meter.stop();
  return rows;
}
