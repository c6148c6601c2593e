import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile, utimes } from 'node:fs/promises';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { JsonStore } from '../../../agent/src/state/json-store.js';
import { acquireLock, LockHeldError, readLock } from '../../../agent/src/state/lock.js';
import { StateDir } from '../../../agent/src/state/state-dir.js';

const Doc = z.object({ n: z.int(), tags: z._default(z.array(z.string()), []) });
type Doc = z.infer<typeof Doc>;

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fm-state-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
const store = (dir: string) =>
  new JsonStore<Doc>({ dir, name: 'doc', schema: Doc, fallback: () => ({ n: 0, tags: [] }) });

test('missing file → fallback; save → load round trip; previous good copy kept; no temp files left', async (t) => {
  const dir = await tempDir(t);
  const s = store(dir);
  assert.deepEqual(await s.load(), { value: { n: 0, tags: [] }, source: 'default', problems: [] });
  await s.save({ n: 1, tags: ['a'] });
  await s.save({ n: 2, tags: [] });
  const fresh = store(dir);
  assert.deepEqual((await fresh.load()).value, { n: 2, tags: [] });
  const prev = JSON.parse(await readFile(join(dir, 'doc.prev.json'), 'utf8'));
  assert.deepEqual(prev.data, { n: 1, tags: ['a'] });
  assert.deepEqual((await readdir(dir)).sort(), ['doc.json', 'doc.prev.json']);
});

test('corrupt current file (truncated JSON, bad checksum, schema) → previous good copy is used, then kept aside', async (t) => {
  const dir = await tempDir(t);
  const s = store(dir);
  await s.save({ n: 1, tags: [] });
  await s.save({ n: 2, tags: [] });
  const good = await readFile(join(dir, 'doc.json'), 'utf8');

  await writeFile(join(dir, 'doc.json'), good.slice(0, good.length / 2)); // torn write
  let r = await store(dir).load();
  assert.equal(r.source, 'previous');
  assert.deepEqual(r.value, { n: 1, tags: [] });
  assert.match(r.problems[0]!, /not valid JSON/);

  await writeFile(join(dir, 'doc.json'), good.replace('"n":2', '"n":3')); // bit flip: checksum no longer matches
  r = await store(dir).load();
  assert.equal(r.source, 'previous');
  assert.match(r.problems[0]!, /checksum/);

  // Saving after a corrupt load must not promote the corrupt file to "previous good".
  const s2 = store(dir);
  await s2.load();
  await s2.save({ n: 4, tags: [] });
  assert.deepEqual(JSON.parse(await readFile(join(dir, 'doc.prev.json'), 'utf8')).data, { n: 1, tags: [] });
  assert.ok((await readdir(dir)).includes('doc.corrupt.json'));
  assert.deepEqual((await store(dir).load()).value, { n: 4, tags: [] });

  // Both bad → fallback with both problems named.
  await writeFile(join(dir, 'doc.json'), '{');
  await writeFile(
    join(dir, 'doc.prev.json'),
    JSON.stringify({ format: 'fleetmedic-store/1', sha256: 'x', data: { n: 'no' } }),
  );
  r = await store(dir).load();
  assert.equal(r.source, 'default');
  assert.equal(r.problems.length, 2);
});

test('saving an invalid value is refused and leaves the file as it was', async (t) => {
  const dir = await tempDir(t);
  const s = store(dir);
  await s.save({ n: 1, tags: [] });
  await assert.rejects(s.save({ n: 1.5 } as Doc), /refusing to save invalid doc/);
  assert.deepEqual((await store(dir).load()).value, { n: 1, tags: [] });
});

test('concurrent updates are serialised (no lost update)', async (t) => {
  const dir = await tempDir(t);
  const s = store(dir);
  await s.load();
  await Promise.all(Array.from({ length: 20 }, () => s.update((d) => ({ ...d, n: d.n + 1 }))));
  assert.equal((await store(dir).load()).value.n, 20);
});

test('lock: a live holder refuses a second agent; a dead PID is taken over; release removes only our lock', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'agent.lock');
  const first = await acquireLock(path);
  await assert.rejects(
    acquireLock(path),
    (err: unknown) => err instanceof LockHeldError && err.holder.pid === process.pid,
  );

  // Stale: the holder process is gone.
  await first.release();
  const child = spawn(process.execPath, ['-e', '0']);
  const deadPid = await new Promise<number>((resolve) => child.on('exit', () => resolve(child.pid!)));
  await writeFile(
    path,
    JSON.stringify({
      pid: deadPid,
      startTime: null,
      hostname: hostname(),
      nonce: 'dead',
      acquiredAt: new Date().toISOString(),
    }),
  );
  const second = await acquireLock(path);
  assert.equal(second.tookOverFrom?.reason, `pid ${deadPid} is not running`);
  assert.equal((await readLock(path))!.nonce, second.info.nonce);

  // PID reused: same pid alive but a different start time.
  await second.release();
  await writeFile(
    path,
    JSON.stringify({
      pid: process.pid,
      startTime: '1',
      hostname: hostname(),
      nonce: 'old',
      acquiredAt: new Date().toISOString(),
    }),
  );
  const third = await acquireLock(path);
  assert.match(third.tookOverFrom!.reason, /reused/);

  // An unreadable lock is stale only when old (its writer may be between create and write).
  await third.release();
  await writeFile(path, '');
  await utimes(path, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  const fourth = await acquireLock(path);
  assert.equal(fourth.tookOverFrom?.reason, 'unreadable lock file');

  // Someone else's lock (different nonce) is not removed by our release.
  await writeFile(path, JSON.stringify({ ...fourth.info, nonce: 'other' }));
  await fourth.release();
  assert.equal((await readLock(path))!.nonce, 'other');
});

test('StateDir: lock held → second open fails; markers and counters persist', async (t) => {
  const dir = await tempDir(t);
  const a = await StateDir.open(dir, { lock: true });
  await assert.rejects(StateDir.open(dir, { lock: true }), LockHeldError);
  const readOnly = await StateDir.open(dir, { lock: false });
  assert.equal(readOnly.lock, undefined);

  await a.markers.set('web', { reason: 'maintenance' });
  assert.deepEqual([...(await readOnly.markers.list())], ['web']);
  assert.equal((await a.markers.get('web'))!.reason, 'maintenance');
  await assert.rejects(a.markers.set('../etc/passwd'));
  assert.equal(await a.markers.clear('web'), true);
  assert.equal(await a.markers.clear('web'), false);

  assert.equal(await a.counters.next('seq'), 1);
  assert.equal(await a.counters.next('seq'), 2);
  await a.close();
  const b = await StateDir.open(dir, { lock: true });
  assert.equal(await b.counters.next('seq'), 3, 'sequence numbers survive a restart');
  const s = b.store('custom', Doc, () => ({ n: 0, tags: [] }));
  assert.equal(
    b.store('custom', Doc, () => ({ n: 0, tags: [] })),
    s,
    'one instance per name',
  );
  await s.save({ n: 7, tags: [] });
  await b.close();
  assert.equal(await readLock(join(dir, 'agent.lock')), null);
});
