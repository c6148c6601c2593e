/**
 * Persisted, strictly increasing sequence counters (e.g. the report `seq`). `next()` saves before it returns,
 * so a number handed out is never handed out again, even across a crash.
 */
import * as z from 'zod/mini';
import { JsonStore } from './json-store.js';

const CountersSchema = z.record(z.string(), z.int().check(z.minimum(0)));

export class Counters {
  readonly store: JsonStore<Record<string, number>>;
  constructor(dir: string) {
    this.store = new JsonStore({ dir, name: 'counters', schema: CountersSchema, fallback: () => ({}) });
  }
  async load(): Promise<string[]> {
    return (await this.store.load()).problems;
  }
  current(name: string): number {
    return this.store.value[name] ?? 0;
  }
  async next(name: string): Promise<number> {
    const saved = await this.store.update((c) => ({ ...c, [name]: (c[name] ?? 0) + 1 }));
    return saved[name]!;
  }
}
