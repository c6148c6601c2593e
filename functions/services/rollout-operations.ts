/**
 * The operator's side of fleet rollouts (docs/architecture.md "Rollouts"): start one, list them, read one's
 * progress per stage with how close the abort criteria are, pause / resume / abort. The controller and the
 * storage rules live in services/rollouts.ts; this file shapes what the operator API answers and passes on who
 * asked: the rollout's own events (rollout.created, rollout.paused...) carry the operator and the request's
 * correlation id; the operator.action audit event is written by the route once the action landed (services/audit.ts).
 */
import type * as z from 'zod/mini';
import type { Rollout, RolloutJob, StoredStage } from '../adapters/rollouts-repo.js';
import type { CreateRolloutRequest, RolloutView } from '../contract/rollouts.js';
import { closeness, type Closeness } from '../domain/rollouts/criteria.js';
import type { OperatorAction } from '../domain/rollouts/lifecycle.js';
import {
  actOnRollout,
  createRollout,
  listRollouts,
  rolloutView,
  viewOf,
  type InputProblem,
  type RolloutView as ServiceView,
} from './rollouts.js';

export type RolloutAnswer = z.output<typeof RolloutView>;

/** Who asked (as the audit trail records it: services/audit.ts), under which correlation id, and when. */
export interface Operator {
  by: string;
  correlationId: string;
  now: number;
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

function stageAnswer(s: StoredStage, criteria: Rollout['abortCriteria']): RolloutAnswer['stages'][number] {
  const startedAt = iso(s.startedAt);
  const finishedAt = iso(s.finishedAt);
  return {
    name: s.name,
    devices: s.end - s.start,
    counts: s.counts,
    ...(startedAt ? { startedAt } : {}),
    ...(finishedAt ? { finishedAt } : {}),
    criteria: closenessAnswer(closeness(s.counts, criteria, s.end - s.start)),
  };
}

const closenessAnswer = (c: Closeness): RolloutAnswer['criteria'] => ({
  ...(c.failurePercent ? { failurePercent: c.failurePercent } : {}),
  ...(c.failureCount ? { failureCount: c.failureCount } : {}),
});

/** What the API answers for a rollout: its spec, status, each stage's counts and criteria, the totals. */
export function rolloutAnswer(view: ServiceView): RolloutAnswer {
  const r = view.rollout;
  return {
    rolloutId: r.rolloutId,
    status: r.status,
    createdAt: r.createdAt,
    createdBy: r.createdBy,
    ...(r.description ? { description: r.description } : {}),
    ...(r.selector ? { selector: { ...r.selector } } : {}),
    deviceCount: r.deviceCount,
    // A job rollout names its job where a target rollout names its version (the list and alerts show one column).
    targetVersion: r.target?.version ?? `job:${r.job?.type ?? '?'}`,
    ...(r.job ? { job: { ...r.job } } : {}),
    canary: r.canary,
    waves: r.waves,
    abortCriteria: r.abortCriteria,
    onAbort: r.onAbort,
    deviceTimeoutSeconds: r.deviceTimeoutSeconds,
    stages: r.stages.map((s) => stageAnswer(s, r.abortCriteria)),
    totals: view.totals,
    criteria: closenessAnswer(view.criteria.rollout),
    ...(r.abort ? { abort: r.abort } : {}),
    ...(r.finishedAt ? { finishedAt: r.finishedAt } : {}),
  };
}

export type StartOutcome =
  | { kind: 'created'; rollout: RolloutAnswer }
  | { kind: 'invalid'; message: string; issues: InputProblem[] };

export async function startRollout(req: z.output<typeof CreateRolloutRequest>, who: Operator): Promise<StartOutcome> {
  const res = await createRollout(
    {
      ...(req.selector ? { selector: req.selector } : {}),
      ...(req.deviceIds ? { deviceIds: req.deviceIds } : {}),
      ...(req.target ? { target: req.target } : {}),
      ...(req.job ? { job: jobOf(req.job) } : {}),
      canary: req.canary,
      waves: req.waves,
      abortCriteria: req.abortCriteria,
      // A job cannot be taken back: a job rollout leaves its devices unless told otherwise (and then refuses).
      onAbort: req.onAbort ?? (req.job ? 'leave' : 'rollback'),
      ...(req.deviceTimeoutSeconds !== undefined ? { deviceTimeoutSeconds: req.deviceTimeoutSeconds } : {}),
      ...(req.description ? { description: req.description } : {}),
    },
    who.by,
    who.now,
    who.correlationId,
  );
  return res.kind === 'created' ? { kind: 'created', rollout: rolloutAnswer(viewOf(res.rollout)) } : res;
}

/** The job as a rollout stores it: its command and the settings each device's job gets. */
function jobOf(job: NonNullable<z.output<typeof CreateRolloutRequest>['job']>): RolloutJob {
  return {
    type: job.type,
    params: job.params as Record<string, unknown>,
    ...(job.inProgressTimeoutSeconds !== undefined ? { inProgressTimeoutSeconds: job.inProgressTimeoutSeconds } : {}),
  };
}

export async function getRolloutAnswer(rolloutId: string): Promise<RolloutAnswer | undefined> {
  const v = await rolloutView(rolloutId);
  return v && rolloutAnswer(v);
}

export async function listRolloutAnswers(
  limit: number,
  nextToken?: string,
): Promise<{ rollouts: RolloutAnswer[]; nextToken?: string }> {
  const page = await listRollouts(limit, nextToken);
  return { rollouts: page.rollouts.map(rolloutAnswer), ...(page.nextToken ? { nextToken: page.nextToken } : {}) };
}

export type OperatorActionOutcome =
  | { kind: 'done'; rollout: RolloutAnswer }
  | { kind: 'not-found' }
  | { kind: 'conflict'; reason: string; status: string };

/** Pause, resume or abort, only from a status that allows it (a conditional write); anything else writes nothing. */
export async function actAsOperator(
  rolloutId: string,
  action: OperatorAction,
  who: Operator,
  reason?: string,
): Promise<OperatorActionOutcome> {
  const res = await actOnRollout(rolloutId, action, who.by, who.now, reason, who.correlationId);
  return res.kind === 'done' ? { kind: 'done', rollout: rolloutAnswer(res.view) } : res;
}
