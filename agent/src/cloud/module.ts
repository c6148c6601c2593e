/**
 * Plugs the cloud link (link.ts) into the agent's loop (agent.ts `AgentModule`) and serves the cloud's target
 * to it (`CloudTargetProvider`). State lives in the agent's state directory:
 *   outbox/            the report buffer (report-buffer.ts)      job-journal.json   executed jobs (job-journal.ts)
 *   rollout.json       last-successful / on-trial target (rollout.ts)
 * Timing knobs (tests run the real link in seconds) come from the environment, defaults in brackets:
 *   FLEETMEDIC_REPORT_MIN_INTERVAL_SECONDS [10]  FLEETMEDIC_HEARTBEAT_SECONDS [30]  FLEETMEDIC_FULL_REPORT_SECONDS [900]
 *   FLEETMEDIC_TARGET_POLL_SECONDS [30]  FLEETMEDIC_JOB_POLL_SECONDS [10]  FLEETMEDIC_RECONNECT_JITTER_SECONDS [15]
 *   FLEETMEDIC_PROBE_MAX_SECONDS [300]  FLEETMEDIC_OUTBOX_MAX_REPORTS [500]
 *   With the sync protocol the server sets the interval; FLEETMEDIC_HEARTBEAT_SECONDS, when set, caps it.
 *   TIMEOUT_MS / RETRY_MAX / RETRY_BACKOFF_MS (the shared upstream-call policy)
 * The push channel (push-channel.ts; only with --push-url / FLEETMEDIC_PUSH_URL):
 *   FLEETMEDIC_PUSH_MAX_CONNECTION_SECONDS [6600]  FLEETMEDIC_PUSH_PING_SECONDS [300]  FLEETMEDIC_PUSH_PONG_TIMEOUT_SECONDS [30]
 *   FLEETMEDIC_PUSH_BACKOFF_BASE_SECONDS [30]  FLEETMEDIC_PUSH_BACKOFF_MAX_SECONDS [300]
 */
import { join } from 'node:path';
import type { TargetState, TargetStateDocument } from '#contract/target-state.js';
import { upstreamPolicyFromEnv, type UpstreamPolicy } from '#client/upstream-call.js';
import type { Agent } from '../agent.js';
import type { AgentModule, CycleContext } from '../agent-module.js';
import { AGENT_VERSION } from '../config.js';
import { registryOfImage } from '../engine/registry-auth.js';
import { specHash } from '../planner/spec-hash.js';
import type { AgentRecoveries } from '#contract/report.js';
import type { RecoveryController } from '../recovery/controller.js';
import type { TargetProvider, TargetSnapshot } from '../target/provider.js';
import { CloudApi } from './api-client.js';
import { JobJournal } from './job-journal.js';
import type { JobHandlers } from './job-runner.js';
import { DEFAULT_LINK_CONFIG, type LinkConfig } from './link-state.js';
import { CloudLink } from './link.js';
import { DEFAULT_PUSH_TIMING, PushChannel, type PushChannelConfig } from './push-channel.js';
import { ReportBuffer } from './report-buffer.js';
import { DEFAULT_REPORT_SCHEDULE, type ReportScheduleConfig } from './report-scheduler.js';
import { emptyRollout, RolloutDoc } from './rollout.js';

export interface CloudModuleOptions {
  apiUrl: string;
  deviceId: string;
  /** The device token, or where to get the current one before each call (a rotated token file). */
  token: string | (() => string);
  schedule?: ReportScheduleConfig;
  link?: LinkConfig;
  targetPollMs?: number;
  /** Cap on the server's sync interval (FLEETMEDIC_HEARTBEAT_SECONDS when set). */
  maxSyncMs?: number;
  jobPollMs?: number;
  outboxMaxReports?: number;
  upstream?: UpstreamPolicy;
  random?: () => number;
  /** The health/recovery controller, when that module runs (restart-service, run-health-check, retry-now). */
  recovery?: () => RecoveryController | undefined;
  /** The recovery attempts so far (the recovery module's counters), reported to the cloud. */
  recoveries?: () => AgentRecoveries | undefined;
  /** Longest wait for the first target fetch before the first cycle (then the persisted target is used). */
  firstFetchTimeoutMs?: number;
  /** The push channel's WebSocket URL; without it the link only polls. */
  pushUrl?: string;
  pushTiming?: Omit<PushChannelConfig, 'url'>;
}

export function cloudOptionsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): Omit<CloudModuleOptions, 'apiUrl' | 'deviceId' | 'token'> {
  const sec = (name: string, fallback: number) => {
    const v = env[name];
    const n = v === undefined || v === '' ? Number.NaN : Number(v);
    return Number.isFinite(n) && n >= 0 ? n * 1000 : fallback;
  };
  const max = Number(env.FLEETMEDIC_OUTBOX_MAX_REPORTS);
  return {
    schedule: {
      minIntervalMs: sec('FLEETMEDIC_REPORT_MIN_INTERVAL_SECONDS', DEFAULT_REPORT_SCHEDULE.minIntervalMs),
      heartbeatMs: sec('FLEETMEDIC_HEARTBEAT_SECONDS', DEFAULT_REPORT_SCHEDULE.heartbeatMs),
      fullEveryMs: sec('FLEETMEDIC_FULL_REPORT_SECONDS', DEFAULT_REPORT_SCHEDULE.fullEveryMs),
    },
    link: {
      probeBaseMs: Math.min(
        DEFAULT_LINK_CONFIG.probeBaseMs,
        sec('FLEETMEDIC_PROBE_MAX_SECONDS', DEFAULT_LINK_CONFIG.probeMaxMs),
      ),
      probeMaxMs: sec('FLEETMEDIC_PROBE_MAX_SECONDS', DEFAULT_LINK_CONFIG.probeMaxMs),
      reconnectJitterMs: sec('FLEETMEDIC_RECONNECT_JITTER_SECONDS', DEFAULT_LINK_CONFIG.reconnectJitterMs),
    },
    ...(env.FLEETMEDIC_HEARTBEAT_SECONDS
      ? { maxSyncMs: sec('FLEETMEDIC_HEARTBEAT_SECONDS', DEFAULT_REPORT_SCHEDULE.heartbeatMs) }
      : {}),
    targetPollMs: sec('FLEETMEDIC_TARGET_POLL_SECONDS', 30_000),
    pushTiming: {
      ...DEFAULT_PUSH_TIMING,
      maxConnectionMs: sec('FLEETMEDIC_PUSH_MAX_CONNECTION_SECONDS', DEFAULT_PUSH_TIMING.maxConnectionMs),
      pingMs: sec('FLEETMEDIC_PUSH_PING_SECONDS', DEFAULT_PUSH_TIMING.pingMs),
      pongTimeoutMs: sec('FLEETMEDIC_PUSH_PONG_TIMEOUT_SECONDS', DEFAULT_PUSH_TIMING.pongTimeoutMs),
      backoffBaseMs: sec('FLEETMEDIC_PUSH_BACKOFF_BASE_SECONDS', DEFAULT_PUSH_TIMING.backoffBaseMs),
      backoffMaxMs: sec('FLEETMEDIC_PUSH_BACKOFF_MAX_SECONDS', DEFAULT_PUSH_TIMING.backoffMaxMs),
    },
    jobPollMs: sec('FLEETMEDIC_JOB_POLL_SECONDS', 10_000),
    ...(Number.isSafeInteger(max) && max > 0 ? { outboxMaxReports: max } : {}),
    upstream: upstreamPolicyFromEnv(env),
  };
}

export class CloudModule implements AgentModule {
  readonly name = 'cloud-link';
  link!: CloudLink;
  push: PushChannel | undefined;
  readonly provider: TargetProvider;
  private agent!: Agent;
  private manualStops = new Set<string>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly opts: CloudModuleOptions) {
    this.provider = { name: 'cloud', fetch: async () => this.link?.currentSnapshot() ?? null };
  }

  async start(agent: Agent): Promise<void> {
    this.agent = agent;
    const log = agent.log.child({ module: 'cloud' });
    const api = new CloudApi({
      baseUrl: this.opts.apiUrl,
      deviceId: this.opts.deviceId,
      token: this.opts.token,
      agentVersion: AGENT_VERSION,
      ...(this.opts.upstream ? { policy: this.opts.upstream } : {}),
      ...(this.opts.random ? { random: this.opts.random } : {}),
    });
    this.link = new CloudLink({
      api,
      buffer: new ReportBuffer({
        dir: join(agent.state.path, 'outbox'),
        ...(this.opts.outboxMaxReports ? { maxReports: this.opts.outboxMaxReports } : {}),
      }),
      journal: new JobJournal(agent.state.path),
      rolloutStore: agent.state.store('rollout', RolloutDoc, emptyRollout),
      clock: agent.clock,
      log,
      deviceId: this.opts.deviceId,
      agentVersion: AGENT_VERSION,
      handlers: this.handlers(),
      source: {
        reports: () => agent.reports(),
        targetHealthy: (t) => this.targetHealthy(t),
        targetChanged: (snap: TargetSnapshot) => agent.trigger(`target-${snap.source}`),
        registryAuth: (delivered) => this.onRegistryAuth(delivered, log),
        recoveries: () => this.opts.recoveries?.(),
      },
      ...(this.opts.random ? { random: this.opts.random } : {}),
      ...(this.opts.schedule ? { schedule: this.opts.schedule } : {}),
      ...(this.opts.link ? { link: this.opts.link } : {}),
      ...(this.opts.targetPollMs !== undefined ? { targetPollMs: this.opts.targetPollMs } : {}),
      ...(this.opts.maxSyncMs !== undefined ? { maxSyncMs: this.opts.maxSyncMs } : {}),
      ...(this.opts.jobPollMs !== undefined ? { jobPollMs: this.opts.jobPollMs } : {}),
    });
    await this.link.load();
    // The first cycle should converge to the cloud's target if the cloud answers quickly; otherwise the
    // persisted target runs and the link keeps trying in the background.
    await Promise.race([
      this.link.tickNow(),
      new Promise((r) => setTimeout(r, this.opts.firstFetchTimeoutMs ?? 5000).unref()),
    ]);
    this.unsubscribe = agent.status.subscribe(() => this.link.notify());
    this.link.start();
    if (this.opts.pushUrl) {
      const token = this.opts.token;
      this.push = new PushChannel({
        config: { url: this.opts.pushUrl, ...(this.opts.pushTiming ?? DEFAULT_PUSH_TIMING) },
        token: typeof token === 'string' ? () => token : token,
        onSync: () => this.link.syncNow(),
        log: log.child({ module: 'push' }),
        ...(this.opts.random ? { random: this.opts.random } : {}),
      });
      await this.push.start();
    }
  }

  afterCycle(cycle: CycleContext): void {
    this.manualStops = cycle.manualStops;
    this.link.markReady();
    this.link.notify();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.push?.stop();
    await this.link?.stop();
  }

  /**
   * New registry credentials: a pull refused with the old ones is a permanent error (quarantined until something
   * changes), and this is that change, so the services pulling from those registries get a fresh try now, without
   * waiting for a new target or an agent restart. Logs registry names only.
   */
  private onRegistryAuth(
    delivered: TargetStateDocument['registryAuth'],
    log: { info(d: Record<string, unknown>, m: string): void },
  ): void {
    const changed = this.agent.executor.registries.replace(delivered);
    if (!changed.length) return;
    log.info({ registries: changed }, 'registry credentials changed');
    for (const [name, spec] of Object.entries(this.agent.currentTarget()?.target.services ?? {})) {
      if (changed.includes(registryOfImage(spec.image))) this.agent.resetService(name);
    }
  }

  /** Every service of the target (manual stops aside) runs its current spec and passes its checks. */
  private targetHealthy(target: TargetState): boolean {
    const current = this.agent.currentTarget();
    if (!current || JSON.stringify(current.target) !== JSON.stringify(target)) return false; // not applied yet
    for (const [name, spec] of Object.entries(target.services)) {
      if (this.manualStops.has(name)) continue;
      const c = this.agent.container(name);
      if (c?.state !== 'running' || c.specHash !== specHash(spec) || !this.agent.isHealthy(name)) return false;
    }
    return true;
  }

  private handlers(): JobHandlers {
    const recovery = () => this.opts.recovery?.();
    const names = (service?: string) =>
      service ? [service] : Object.keys(this.agent.currentTarget()?.target.services ?? {});
    return {
      'restart-service': async ({ service }) => {
        const r = recovery();
        if (!this.agent.currentTarget()?.target.services[service])
          throw new Error(`service ${service} is not in the target`);
        if (r?.knows(service)) {
          await r.restartService(service);
          return { service, restarted: true };
        }
        this.agent.requestRestart(service);
        return { service, restarted: 'next-cycle' };
      },
      'pull-image': async ({ image }) => {
        await this.agent.executor.pull(image);
        return { image, pulled: true };
      },
      'set-target-state': ({ target }, job) => {
        const version = this.link.applyJobTarget(job.jobId, target);
        return { version, services: Object.keys(target.services).length };
      },
      'run-health-check': async ({ service }) => {
        const out: Record<string, string | number | boolean> = {};
        let all = true;
        for (const name of names(service).slice(0, 19)) {
          const r = recovery();
          const result = r?.knows(name) ? await r.checkNow(name) : null;
          const healthy = result ? result.healthy : this.agent.isHealthy(name);
          out[name] = healthy;
          all &&= healthy;
        }
        if (service && !(service in out)) throw new Error(`service ${service} is not in the target`);
        return { ...out, allHealthy: all };
      },
      'retry-now': ({ service }) => {
        let cleared = 0;
        if (service) cleared = this.agent.resetService(service);
        else this.agent.resetAll();
        for (const name of names(service)) recovery()?.resetService(name);
        return { service: service ?? '*', keysCleared: cleared };
      },
    };
  }
}
