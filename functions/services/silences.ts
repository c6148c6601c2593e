/**
 * Operator silences: create, list, end. Each change leaves an audit event (who, when, correlation id) in the
 * fleet's event history. Which alerts a silence stops: domain/alerting/silences.ts; where: services/alerts.ts.
 */
import { recordEvent } from '../adapters/events.js';
import { expireSilence, listSilences, MAX_SILENCES, putSilence } from '../adapters/silences-repo.js';
import type { Matcher, Silence } from '../domain/alerting/silences.js';
import { newSilenceId } from '../lib/ids.js';

export type SilenceState = 'active' | 'pending' | 'expired';
export interface SilenceAnswer extends Omit<Silence, 'startsAt' | 'endsAt' | 'createdAt'> {
  startsAt: string;
  endsAt: string;
  createdAt: string;
  state: SilenceState;
}

export function silenceView(s: Silence, now: number): SilenceAnswer {
  const state: SilenceState = now >= s.endsAt ? 'expired' : now < s.startsAt ? 'pending' : 'active';
  return {
    ...s,
    startsAt: new Date(s.startsAt).toISOString(),
    endsAt: new Date(s.endsAt).toISOString(),
    createdAt: new Date(s.createdAt).toISOString(),
    state,
  };
}

const describe = (matchers: Matcher[]) => matchers.map((m) => `${m.name}${m.op}"${m.value}"`).join(',');

export type CreateSilenceOutcome = { kind: 'created'; silence: SilenceAnswer } | { kind: 'too-many'; count: number };

export async function createSilence(
  req: { matchers: Matcher[]; durationSeconds: number; startsAt?: number; comment: string },
  who: { operator: string; correlationId: string; now: number },
): Promise<CreateSilenceOutcome> {
  const { now } = who;
  const current = (await listSilences()).filter((s) => s.endsAt > now);
  if (current.length >= MAX_SILENCES) return { kind: 'too-many', count: current.length };
  const startsAt = Math.max(req.startsAt ?? now, now);
  const silence: Silence = {
    silenceId: newSilenceId(now),
    matchers: req.matchers,
    startsAt,
    endsAt: startsAt + req.durationSeconds * 1000,
    comment: req.comment,
    createdBy: who.operator,
    createdAt: now,
  };
  await putSilence(silence);
  await recordEvent(
    {
      type: 'silence.created',
      correlationId: who.correlationId,
      detail: {
        silenceId: silence.silenceId,
        matchers: describe(silence.matchers),
        startsAt: new Date(silence.startsAt).toISOString(),
        endsAt: new Date(silence.endsAt).toISOString(),
        comment: silence.comment,
        by: who.operator,
      },
    },
    now,
  );
  return { kind: 'created', silence: silenceView(silence, now) };
}

export async function silences(now: number): Promise<SilenceAnswer[]> {
  return (await listSilences()).map((s) => silenceView(s, now));
}

export async function endSilence(
  silenceId: string,
  who: { operator: string; correlationId: string; now: number },
): Promise<SilenceAnswer | undefined> {
  const ended = await expireSilence(silenceId, who.now);
  if (!ended) return undefined;
  await recordEvent(
    {
      type: 'silence.expired',
      correlationId: who.correlationId,
      detail: { silenceId, matchers: describe(ended.matchers), by: who.operator },
    },
    who.now,
  );
  return silenceView(ended, who.now);
}
