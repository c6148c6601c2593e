import { randomBytes, randomUUID } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyz';

/** Time-ordered, URL-safe id: 10 chars of time (ms, base-54-ish) + 14 random chars. */
export function timeOrderedId(now = Date.now()): string {
  let t = now;
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % ALPHABET.length] + time;
    t = Math.floor(t / ALPHABET.length);
  }
  const rnd = randomBytes(14);
  let rand = '';
  for (const b of rnd) rand += ALPHABET[b % ALPHABET.length];
  return time + rand;
}

export const newJobId = (now?: number) => `job_${timeOrderedId(now)}`;
export const newEventId = (now?: number) => `evt_${timeOrderedId(now)}`;
export const newSilenceId = (now?: number) => `sil_${timeOrderedId(now)}`;
export const newCorrelationId = () => randomUUID();
