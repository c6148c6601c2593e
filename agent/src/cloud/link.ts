/**
 * The cloud link: one timer, one pass at a time (never overlapping). Two protocols (docs/architecture.md
 * "Device protocol"):
 * - sync (default): rollout window → produce report → one POST /sync per buffered report (at least one per
 *   interval: a heartbeat when nothing else is buffered); the answer carries the ack, pending jobs, the target when
 *   its ETag changed, and the interval the server wants until the next sync (jittered ±10 % here).
 * - legacy, when the API does not know /sync (404/405: an older deployment): probe (while offline) → target poll
 *   (ETag) → job poll → rollout window → produce report → deliver outbox. /sync is tried again after an hour.
 * Back-pressure (429, or 503 with Retry-After) is not an outage: the link waits the advertised time (+ up to 20 %
 * jitter) and stays online; reports stay buffered in order.
 *
 * - Reports: produced by report-scheduler.ts rules, written to the on-disk outbox (report-buffer.ts) with
 *   their sequence number BEFORE sending, delivered oldest first; acknowledged ones are deleted. 409
 *   stale_sequence renumbers the outbox past the server's lastSeq (and asks for a full report). The clock
 *   offset (device − server, from ReportAck.serverTime at the request's midpoint) rides on later reports.
 * - Connectivity: link-state.ts. Offline = probe with jittered backoff (a cheap conditional GET of the
 *   target); the first success is a reconnect → random pause → outbox flush + full report.
 * - Target: GET with If-None-Match; 304 = unchanged; a new version goes through the rollout (rollout.ts) and,
 *   if accepted, becomes the target snapshot the agent's provider serves, with an immediate reconcile.
 * - Jobs: job-runner.ts (write-ahead journal, at most once).
 * Nothing here can stop the agent: every failure is logged and retried later; the device keeps running on
 * its last target while the cloud is away.
 *
 * Longer than the ~400 lines a file keeps to: the pass above is one sequence with one timer, and the two
 * protocols share its outbox, back-pressure and reconnect handling; the parts that stand alone (link state,
 * report scheduling, the outbox, rollout, jobs) are in their own files already.
 */
import type { ServiceReport } from '#contract/report.js';
import type { TargetState, TargetStateDocument } from '#contract/target-state.js';
import type { Clock } from '../clock.js';
import type { JsonStore } from '../state/json-store.js';
import type { TargetSnapshot } from '../target/provider.js';
import type { SyncResponse } from '#contract/sync.js';
import { SYNC_JITTER } from '#domain/liveness.js';
import { CloudThrottled, CloudUnavailable, checkReport, type CloudApi } from './api-client.js';
import type { JobJournal } from './job-journal.js';
import { JobRunner, type JobHandlers } from './job-runner.js';
import { DEFAULT_LINK_CONFIG, LinkState, type LinkConfig } from './link-state.js';
import type { ReportBuffer } from './report-buffer.js';
import type { AgentRecoveries } from '#contract/report.js';
import { ReportBuilder } from './report-builder.js';
import { DEFAULT_REPORT_SCHEDULE, ReportScheduler, type ReportScheduleConfig } from './report-scheduler.js';
import { Rollout, type RolloutDoc } from './rollout.js';

/** After falling back to the separate routes, try /sync again this often (the API may have been upgraded). */
const SYNC_RETRY_MS = 3600_000;

export interface LinkLog {
  debug(data: Record<string, unknown>, msg: string): void;
  info(data: Record<string, unknown>, msg: string): void;
  warn(data: Record<string, unknown>, msg: string): void;
  error(data: Record<string, unknown>, msg: string): void;
}

/** What the link needs from the rest of the agent. */
export interface LinkSource {
  reports(): ServiceReport[];
  /** Every service of `target` passes its checks right now (rollout promotion). */
  targetHealthy(target: TargetState): boolean;
  /** The target snapshot changed (new version, rollback, job): reconcile now. */
  targetChanged(snapshot: TargetSnapshot): void;
  /**
   * The registry credentials delivered with the target (every 200 answer, also when only they changed: a
   * rotation changes the ETag, not the version). Kept in memory only, never in the rollout store.
   */
  registryAuth?(delivered: TargetStateDocument['registryAuth']): void;
  /** The recovery attempts so far (cumulative), sent with every report; absent when recovery does not run. */
  recoveries?(): AgentRecoveries | undefined;
}

export interface CloudLinkOptions {
  api: CloudApi;
  buffer: ReportBuffer;
  journal: JobJournal;
  rolloutStore: JsonStore<RolloutDoc>;
  clock: Clock;
  log: LinkLog;
  source: LinkSource;
  handlers: JobHandlers;
  deviceId: string;
  agentVersion: string;
  random?: () => number;
  schedule?: ReportScheduleConfig;
  link?: LinkConfig;
  targetPollMs?: number;
  jobPollMs?: number;
  /** Upper bound on the server's sync interval (FLEETMEDIC_HEARTBEAT_SECONDS when set). */
  maxSyncMs?: number;
}

export class CloudLink {
  readonly scheduler: ReportScheduler;
  readonly state: LinkState;
  readonly runner: JobRunner;
  rollout!: Rollout;
  private readonly builder = new ReportBuilder();
  private readonly startedMono: number;
  private etag: string | undefined;
  private snapshot: TargetSnapshot | null = null;
  private clockOffsetMs: number | undefined;
  private nextTargetPollAt = Number.NEGATIVE_INFINITY;
  private nextJobPollAt = Number.NEGATIVE_INFINITY;
  private dirty = true;
  private ready = false;
  private running: Promise<void> | null = null;
  private again = false;
  /** The job batch being executed (beside the passes, see pollJobs). */
  private jobsRunning: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  private stopped = false;
  /** Which protocol the API speaks (sync until it answers 404/405 to it; then legacy until `syncRetryAt`). */
  protocol: 'sync' | 'legacy' = 'sync';
  private syncRetryAt = Number.NEGATIVE_INFINITY;
  private nextSyncAt = Number.NEGATIVE_INFINITY;
  /** syncNow() asked for a sync that has not started yet. */
  private syncWanted = false;
  /** Back-pressure: no request before this (monotonic ms). */
  private throttledUntil = Number.NEGATIVE_INFINITY;
  /** Counters for status, tests and the bench. */
  readonly stats = {
    delivered: 0,
    produced: 0,
    staleJumps: 0,
    rejected: 0,
    reconnects: 0,
    throttled: 0,
    syncs: 0,
    pushedSyncs: 0,
    lastError: '',
  };

  constructor(private readonly opts: CloudLinkOptions) {
    this.startedMono = opts.clock.monoNow();
    this.scheduler = new ReportScheduler(opts.schedule ?? DEFAULT_REPORT_SCHEDULE);
    this.state = new LinkState(opts.link ?? DEFAULT_LINK_CONFIG, opts.random ?? Math.random);
    this.runner = new JobRunner(opts.api, opts.journal, opts.handlers, opts.log);
  }

  /** Loads the outbox, journal and rollout state. Call before `start`. */
  async load(): Promise<void> {
    await this.opts.buffer.load();
    const problems = await this.opts.journal.load();
    if (problems.length) this.opts.log.warn({ problems }, 'job journal damaged; recovered from the previous copy');
    const r = await this.opts.rolloutStore.load();
    if (r.problems.length) this.opts.log.warn({ problems: r.problems }, 'rollout state damaged; recovered');
    this.rollout = new Rollout(r.value, this.opts.clock.monoNow());
    const doc = r.value;
    const current =
      doc.attempt?.version === doc.current
        ? doc.attempt
        : doc.lastSuccessful?.version === doc.current
          ? doc.lastSuccessful
          : null;
    if (current) this.snapshot = { version: current.version, target: current.target, source: 'cloud' };
  }

  /** The on-disk report outbox (status, tests). */
  get outbox(): ReportBuffer {
    return this.opts.buffer;
  }

  /** The target the agent should converge to (served by the cloud TargetProvider), null until known. */
  currentSnapshot(): TargetSnapshot | null {
    return this.snapshot;
  }

  /** Reports may start (the agent has a first picture of its services). */
  markReady(): void {
    this.ready = true;
    this.kick();
  }

  /** Something in the status changed: a delta may be due (checked at most once per throttle window). */
  notify(): void {
    this.dirty = true;
    this.arm();
  }

  /** Starts the timer loop (first pass at once). */
  start(): void {
    this.stopped = false;
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => {});
    await this.jobsRunning;
  }

  /** One pass now (tests; the first target fetch at start). Resolves when it is done. */
  async tickNow(): Promise<void> {
    if (this.running) {
      this.again = true;
      await this.running;
      return;
    }
    this.running = this.pass().finally(() => {
      this.running = null;
    });
    await this.running;
    if (this.again && !this.stopped) {
      this.again = false;
      await this.tickNow();
    } else this.arm();
  }

  /**
   * Sync at once (the push channel said something is waiting, or it just connected): the next pass syncs now
   * instead of at the server's interval, which keeps applying to the syncs after it. Back-pressure and an outage
   * still hold it back (throttledUntil, the link state's probe schedule).
   */
  syncNow(): void {
    this.stats.pushedSyncs++;
    // A flag, not only nextSyncAt: a pass running now would overwrite nextSyncAt with the server's interval when
    // its own sync returns, and the request would wait for the next poll.
    this.syncWanted = true;
    this.nextSyncAt = Number.NEGATIVE_INFINITY;
    this.nextJobPollAt = Number.NEGATIVE_INFINITY;
    this.nextTargetPollAt = Number.NEGATIVE_INFINITY;
    this.kick();
  }

  /** set-target-state job: the target goes on trial like any new cloud version. */
  applyJobTarget(jobId: string, target: TargetState): string {
    const version = `job-${jobId}`;
    this.accept(version, target, 'job');
    return version;
  }

  // ───────────── the pass ─────────────

  private kick(): void {
    if (this.stopped) return;
    void this.tickNow().catch((err) =>
      this.opts.log.error({ err: String(err) }, 'cloud link pass crashed; continuing'),
    );
  }

  private async pass(): Promise<void> {
    const clock = this.opts.clock;
    if (clock.monoNow() < this.throttledUntil) {
      // Asked to slow down: keep judging the rollout and buffering reports, send nothing yet.
      this.judgeRollout();
      await this.produce().catch((err) =>
        this.opts.log.error({ err: String(err) }, 'cannot write a report to the outbox'),
      );
      return;
    }
    if (this.protocol === 'legacy' && clock.monoNow() >= this.syncRetryAt) this.protocol = 'sync';
    // Until the agent has a picture of its services there is no report to carry: the separate (conditional,
    // idempotent) target and job polls run meanwhile, so the first cycle converges and early jobs are seen.
    if (this.protocol === 'sync' && this.ready) {
      await this.syncPass();
      if (this.protocol === 'sync') return;
    }
    try {
      if (!this.state.isOnline && this.state.canProbe(clock.monoNow())) {
        await this.pollTarget(); // the probe: cheap, conditional, idempotent
      }
      const now = clock.monoNow();
      if (this.state.canSend(now) && now >= this.nextTargetPollAt) await this.pollTarget();
      if (this.state.canSend(clock.monoNow()) && clock.monoNow() >= this.nextJobPollAt) await this.pollJobs();
    } catch (err) {
      this.onFailure(err);
    }
    this.judgeRollout();
    // Reports go out through /sync once the agent is ready, unless the API does not know it.
    if (this.protocol !== 'legacy') return;
    await this.produce().catch((err) =>
      this.opts.log.error({ err: String(err) }, 'cannot write a report to the outbox'),
    );
    try {
      await this.deliver();
    } catch (err) {
      this.onFailure(err);
    }
  }

  /** The sync protocol's pass: every buffered report goes out in a sync; one is made up if none is buffered. */
  private async syncPass(): Promise<void> {
    const clock = this.opts.clock;
    this.judgeRollout();
    await this.produce().catch((err) =>
      this.opts.log.error({ err: String(err) }, 'cannot write a report to the outbox'),
    );
    const now = clock.monoNow();
    const probing = !this.state.isOnline && this.state.canProbe(now);
    if (
      !probing &&
      !(this.state.canSend(now) && (now >= this.nextSyncAt || this.syncWanted || this.opts.buffer.size > 0))
    )
      return;
    this.syncWanted = false;
    try {
      // A sync always carries a report: with nothing buffered, a heartbeat (the device's sign of life).
      if (this.opts.buffer.size === 0) await this.produce('heartbeat');
      let last: SyncResponse | undefined;
      let first = true;
      while (!this.stopped && this.opts.buffer.size > 0 && (first || this.state.canSend(clock.monoNow()))) {
        first = false;
        const report = await this.opts.buffer.peek();
        if (!report) break;
        const r = await this.opts.api.sync(report, this.etag, () => clock.wallNow());
        this.stats.syncs++;
        if (r.kind === 'unsupported') {
          this.onSuccess(); // it answered: reachable (a reconnect still waits its random pause)
          this.protocol = 'legacy';
          this.syncRetryAt = clock.monoNow() + SYNC_RETRY_MS;
          this.opts.log.info(
            { status: r.status },
            'the API has no sync route (an older deployment): using the separate report/job/target routes',
          );
          return;
        }
        this.onSuccess();
        if (r.kind === 'rejected') {
          this.stats.rejected++;
          this.opts.log.error(
            { seq: report.seq, status: r.status, error: r.error, message: r.message },
            'the API refused a report for good; dropping it (counted in droppedReports)',
          );
          await this.opts.buffer.reject(report.seq);
          continue;
        }
        const ack = r.body.report;
        if (ack.status === 'stale') {
          this.stats.staleJumps++;
          this.opts.log.warn(
            { seq: report.seq, serverLastSeq: ack.lastSeq },
            'report sequence behind the server; renumbering the outbox',
          );
          await this.opts.buffer.renumberAfter(ack.lastSeq);
          this.scheduler.requestFull();
        } else {
          await this.opts.buffer.ack(report.seq, report.droppedReports);
          this.stats.delivered++;
          // The request's correlation id: what the cloud's records of this report (and what it caused) carry.
          this.opts.log.debug({ seq: report.seq, correlationId: r.correlationId }, 'report delivered');
          const serverMs = Date.parse(ack.serverTime);
          if (Number.isFinite(serverMs))
            this.clockOffsetMs = Math.round((r.sentAtWall + r.receivedAtWall) / 2 - serverMs);
        }
        last = r.body;
      }
      if (last) this.applySync(last);
    } catch (err) {
      this.onFailure(err);
    }
  }

  /** What a sync answered besides the ack: when to sync next, the target if it changed, pending jobs. */
  private applySync(body: SyncResponse): void {
    const random = this.opts.random ?? Math.random;
    const intervalMs =
      Math.min(body.nextSyncSeconds * 1000, this.opts.maxSyncMs ?? Number.POSITIVE_INFINITY) *
      (1 + (random() * 2 - 1) * SYNC_JITTER);
    this.nextSyncAt = this.opts.clock.monoNow() + intervalMs;
    if (body.target.changed && body.target.document) {
      this.etag = body.target.etag ?? undefined;
      this.onTargetDocument(body.target.document);
    }
    if (body.jobs.length && !this.jobsRunning) {
      // Beside the pass, as in pollJobs (reports keep flowing while a job runs).
      this.jobsRunning = this.runner
        .process(body.jobs)
        .catch((err) => this.onFailure(err))
        .finally(() => {
          this.jobsRunning = null;
          this.nextSyncAt = this.opts.clock.monoNow(); // report the outcome and look for more at once
          this.arm();
        });
    }
  }

  private async pollTarget(): Promise<void> {
    this.nextTargetPollAt = this.opts.clock.monoNow() + (this.opts.targetPollMs ?? 30_000);
    const r = await this.opts.api.getTarget(this.etag);
    this.onSuccess();
    if (r.kind !== 'changed') return;
    this.etag = r.etag;
    this.onTargetDocument(r.doc);
  }

  /** A target document from the cloud, by sync or by the target route: credentials first (its pulls need them). */
  private onTargetDocument(doc: TargetStateDocument): void {
    this.opts.source.registryAuth?.(doc.registryAuth);
    this.onCloudTarget(doc);
  }

  private async pollJobs(): Promise<void> {
    this.nextJobPollAt = this.opts.clock.monoNow() + (this.opts.jobPollMs ?? 10_000);
    if (this.jobsRunning) return; // one batch at a time; the next poll follows its end
    const jobs = await this.opts.api.pendingJobs();
    this.onSuccess();
    if (!jobs.length) return;
    // The batch runs beside the pass, not inside it: a restart waits out a stop timeout and a pull can take
    // minutes, and reports must keep flowing meanwhile, or the cloud would take a device busy with its jobs for
    // one that went offline (seen: three restart jobs in a row silenced a device for 17 s > OFFLINE_AFTER).
    this.jobsRunning = this.runner
      .process(jobs)
      .catch((err) => this.onFailure(err))
      .finally(() => {
        this.jobsRunning = null;
        this.nextJobPollAt = this.opts.clock.monoNow(); // more may be waiting: look at once
        this.arm();
      });
  }

  private onCloudTarget(doc: TargetStateDocument): void {
    const decision = this.rollout.incoming(doc.version);
    if (decision === 'rejected-before') {
      this.opts.log.warn(
        { version: doc.version, running: this.rollout.doc.current },
        'the cloud serves a target version that was rolled back here; keeping the rolled-back target',
      );
      return;
    }
    if (decision === 'already-current') {
      if (!this.snapshot) this.snapshot = { version: doc.version, target: doc.target, source: 'cloud' };
      return;
    }
    this.accept(doc.version, doc.target, 'cloud');
  }

  private accept(version: string, target: TargetState, source: string): void {
    this.rollout.begin({ version, target }, this.opts.clock.monoNow());
    this.snapshot = { version, target, source };
    void this.saveRollout();
    this.opts.log.info({ version, source, windowSeconds: target.rollbackWindowSeconds }, 'new target on trial');
    this.opts.source.targetChanged(this.snapshot);
    this.notify();
  }

  private judgeRollout(): void {
    const attempt = this.rollout.doc.attempt;
    if (!attempt) return;
    const v = this.rollout.evaluate(this.opts.clock.monoNow(), this.opts.source.targetHealthy(attempt.target));
    if (v.kind === 'promoted') {
      this.opts.log.info({ version: v.version }, 'target healthy within its window: promoted to last-successful');
      void this.saveRollout();
      this.dirty = true;
    } else if (v.kind === 'rollback') {
      this.opts.log.error(
        { from: v.from, to: v.to.version },
        'target not healthy within its rollback window: rolling back to the last successful target',
      );
      this.snapshot = { version: v.to.version, target: v.to.target, source: 'rollback' };
      void this.saveRollout();
      this.opts.source.targetChanged(this.snapshot);
      this.scheduler.markChanged(); // rolledBackFrom must reach the cloud even if no service changed
    } else if (v.kind === 'failed-without-previous') {
      this.opts.log.error(
        { version: v.version },
        'first target not healthy within its window and nothing to roll back to; keeping it',
      );
      void this.saveRollout();
    }
  }

  private saveRollout(): Promise<void> {
    return this.opts.rolloutStore
      .save(this.rollout.doc)
      .catch((err) => this.opts.log.error({ err: String(err) }, 'cannot persist rollout state'));
  }

  private async produce(force?: 'heartbeat'): Promise<void> {
    if (!this.ready) return;
    const now = this.opts.clock.monoNow();
    // The scheduler's own heartbeats are the legacy protocol's; with sync, the sync interval makes them.
    const online = this.state.isOnline && this.protocol === 'legacy';
    let services: ServiceReport[] | null = null;
    if (this.dirty && this.scheduler.throttleEndsAt() <= now) {
      // Only now (at most once per throttle window) is the change detection worth its cost.
      this.dirty = false;
      services = this.opts.source.reports();
      if (this.builder.hasChanges(services, this.opts.source.recoveries?.())) this.scheduler.markChanged();
    }
    const kind = this.scheduler.due(now, online) ?? force ?? null;
    if (!kind) return;
    // Online with an outbox still to flush (just reconnected): the full report goes after the buffered ones,
    // and must not push the oldest of them out of the bounded buffer.
    if (kind === 'full' && online && this.opts.buffer.size > 0) return;
    services ??= this.opts.source.reports();
    const doc = this.rollout.doc;
    const recoveries = this.opts.source.recoveries?.();
    const body = this.builder.build(kind === 'full' ? 'full' : 'delta', services, {
      ...(recoveries ? { recoveries } : {}),
      deviceId: this.opts.deviceId,
      agentVersion: this.opts.agentVersion,
      uptimeSeconds: (now - this.startedMono) / 1000,
      sentAt: new Date(this.opts.clock.wallNow()).toISOString(),
      ...(this.clockOffsetMs !== undefined ? { clockOffsetMs: this.clockOffsetMs } : {}),
      ...(doc.current ? { targetVersion: doc.current.slice(0, 128) } : {}),
      ...(doc.rolledBackFrom ? { rolledBackFrom: doc.rolledBackFrom.slice(0, 128) } : {}),
    });
    this.scheduler.produced(kind, now);
    const problem = checkReport({ ...body, seq: 0 });
    if (problem) {
      this.opts.log.error({ problem }, 'built a report that does not match the contract; not sending it');
      return;
    }
    const r = await this.opts.buffer.append(body);
    this.stats.produced++;
    this.opts.log.debug(
      { seq: r.seq, kind, services: r.services.length, buffered: this.opts.buffer.size },
      'report queued',
    );
  }

  private async deliver(): Promise<void> {
    const buffer = this.opts.buffer;
    // Not while asked to slow down (a throttled poll earlier in this pass): the reports wait, in order.
    while (
      !this.stopped &&
      buffer.size > 0 &&
      this.state.canSend(this.opts.clock.monoNow()) &&
      this.opts.clock.monoNow() >= this.throttledUntil
    ) {
      const report = await buffer.peek();
      if (!report) return;
      const r = await this.opts.api.postReport(report, () => this.opts.clock.wallNow());
      this.onSuccess();
      if (r.kind === 'ack') {
        await buffer.ack(report.seq, report.droppedReports);
        this.stats.delivered++;
        this.opts.log.debug({ seq: report.seq, correlationId: r.correlationId }, 'report delivered');
        const serverMs = Date.parse(r.ack.serverTime);
        if (Number.isFinite(serverMs))
          this.clockOffsetMs = Math.round((r.sentAtWall + r.receivedAtWall) / 2 - serverMs);
      } else if (r.kind === 'stale') {
        // The server already holds a higher sequence (state directory reset/restored): jump past it.
        this.stats.staleJumps++;
        this.opts.log.warn(
          { seq: report.seq, serverLastSeq: r.lastSeq },
          'report sequence behind the server; renumbering the outbox',
        );
        await buffer.renumberAfter(r.lastSeq);
        this.scheduler.requestFull();
      } else {
        this.stats.rejected++;
        this.opts.log.error(
          { seq: report.seq, status: r.status, error: r.error, message: r.message },
          'the API refused a report for good; dropping it (counted in droppedReports)',
        );
        await buffer.reject(report.seq);
      }
    }
  }

  private onSuccess(): void {
    if (this.state.succeeded(this.opts.clock.monoNow())) {
      this.stats.reconnects++;
      this.scheduler.requestFull();
      this.opts.log.info(
        {
          buffered: this.opts.buffer.size,
          pauseMs: Math.max(0, Math.round(this.state.nextAt() - this.opts.clock.monoNow())),
        },
        'cloud API reachable again; delivering buffered reports after a random pause',
      );
    }
  }

  private onFailure(err: unknown): void {
    const message = String((err as Error)?.message ?? err);
    if (err instanceof CloudThrottled) {
      // Back-pressure from an API that is there: wait what it asked (+ jitter so a throttled fleet spreads out),
      // stay online, keep every buffered report for later, in order.
      const random = this.opts.random ?? Math.random;
      this.throttledUntil = this.opts.clock.monoNow() + err.retryAfterMs * (1 + 0.2 * random());
      this.stats.throttled++;
      this.stats.lastError = message;
      this.opts.log.warn(
        { status: err.status, waitMs: err.retryAfterMs, buffered: this.opts.buffer.size },
        'the cloud API asked to slow down; waiting (still online)',
      );
      return;
    }
    if (!(err instanceof CloudUnavailable)) {
      this.opts.log.error({ err: message }, 'cloud link error');
    }
    const wasOnline = this.state.isOnline;
    this.state.failed(this.opts.clock.monoNow());
    this.stats.lastError = message;
    if (wasOnline)
      this.opts.log.warn(
        { err: message, buffered: this.opts.buffer.size },
        'cloud API unreachable; buffering reports on disk, containers keep running',
      );
  }

  private arm(): void {
    if (this.stopped) return;
    const online = this.state.isOnline;
    const now = this.opts.clock.monoNow();
    const candidates: number[] = [];
    const legacy = this.protocol === 'legacy' || !this.ready;
    if (this.ready) {
      candidates.push(this.scheduler.nextAt(online && legacy));
      if (this.dirty) candidates.push(this.scheduler.throttleEndsAt());
    }
    if (!online) candidates.push(Math.max(this.state.nextAt(), this.throttledUntil));
    else {
      const quiet = Math.max(this.state.nextAt(), this.throttledUntil);
      if (legacy)
        candidates.push(
          Math.max(quiet, this.nextTargetPollAt),
          Math.max(quiet, this.nextJobPollAt),
          Math.max(quiet, this.syncRetryAt),
        );
      else if (this.ready) candidates.push(Math.max(quiet, this.nextSyncAt));
      if (this.opts.buffer.size > 0) candidates.push(quiet);
    }
    const until = this.rollout?.doc.attempt ? now + 1000 : Number.POSITIVE_INFINITY; // judge an attempt about once a second
    candidates.push(until);
    const next = Math.max(now, Math.min(...candidates));
    if (next === this.timerAt && this.timer) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = next;
    if (!Number.isFinite(next)) {
      this.timer = null;
      return;
    }
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.kick();
      },
      Math.max(0, Math.ceil(next - now)),
    );
  }
}
