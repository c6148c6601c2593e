/** Backoff entry → contract ServiceError (ErrImagePull is reported as ImagePullBackOff while waiting, as the kubelet does). */
import type { ServiceError } from '#contract/report.js';
import type { BackoffEntry } from '../backoff/manager.js';
import { monoToIso, type Clock } from '../clock.js';

const VERB: Record<BackoffEntry['action'], string> = {
  pullImage: 'pull',
  createContainer: 'create',
  startContainer: 'start',
  stopContainer: 'stop',
  removeContainer: 'remove',
  restartContainer: 'restart',
};

export function errorFromBackoff(e: BackoffEntry, clock: Clock): ServiceError {
  const due = e.nextRetryMono === null ? null : Math.max(e.nextRetryMono, clock.monoNow());
  const waiting = e.nextRetryMono !== null && e.nextRetryMono > clock.monoNow();
  return {
    type: e.errorType === 'ErrImagePull' && waiting ? 'ImagePullBackOff' : e.errorType,
    message: e.message.slice(0, 2048),
    timestamp: new Date(e.lastFailureWall).toISOString(),
    retryCount: e.attempts,
    // The contract: null once fast retries are over (quarantine retries slowly, flagged by `quarantined`).
    nextRetry: e.quarantined || due === null ? null : monoToIso(clock, due),
    permanent: e.permanent,
    quarantined: e.quarantined,
    attempted: [`${VERB[e.action]} ×${e.attempts}`],
  };
}
