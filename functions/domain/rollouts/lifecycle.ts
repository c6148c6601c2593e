/**
 * A rollout's status and the operator's actions on it:
 *   active ⇄ paused (pause / resume), active|paused → rolling-back → aborted (abort, or a criterion met, with
 *   rollback) or → aborted directly (leave moved devices as they are), active → completed (every stage done).
 * `rolling-back` lasts until every moved device has its previous target back (paged over controller runs).
 */

export type RolloutStatus = 'active' | 'paused' | 'rolling-back' | 'aborted' | 'completed';
export type OperatorAction = 'pause' | 'resume' | 'abort';
export type OnAbort = 'rollback' | 'leave';

export const TERMINAL: readonly RolloutStatus[] = ['aborted', 'completed'];
export const isTerminal = (s: RolloutStatus) => TERMINAL.includes(s);

export type Transition = { ok: true; status: RolloutStatus } | { ok: false; reason: string };

export function applyAction(current: RolloutStatus, action: OperatorAction, onAbort: OnAbort): Transition {
  switch (action) {
    case 'pause':
      return current === 'active'
        ? { ok: true, status: 'paused' }
        : { ok: false, reason: `a rollout that is ${current} cannot be paused` };
    case 'resume':
      return current === 'paused'
        ? { ok: true, status: 'active' }
        : { ok: false, reason: `a rollout that is ${current} cannot be resumed` };
    case 'abort':
      return current === 'active' || current === 'paused'
        ? { ok: true, status: abortStatus(onAbort) }
        : { ok: false, reason: `a rollout that is ${current} cannot be aborted` };
  }
}

/** Where an abort (by an operator or by a criterion) leads. */
export const abortStatus = (onAbort: OnAbort): RolloutStatus => (onAbort === 'rollback' ? 'rolling-back' : 'aborted');
