import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TargetState, type TargetStateInput } from '../../../functions/contract/target-state.js';
import {
  plan,
  dependencyOrder,
  specHash,
  stepKeys,
  type ObservedContainer,
  type PlanInput,
} from '../../../agent/src/planner/index.js';

const target = (t: TargetStateInput) => TargetState.parse(t);
const base = (over: Partial<PlanInput> = {}): PlanInput => ({
  target: null,
  containers: [],
  presentImages: new Set(),
  gates: new Map(),
  manualStops: new Set(),
  holds: new Map(),
  isHealthy: () => true,
  now: 1000,
  ...over,
});
const container = (over: Partial<ObservedContainer> & { service: string }): ObservedContainer => ({
  id: `id-${over.service}`,
  name: `fleetmedic_${over.service}`,
  specHash: 'x',
  image: 'img:1',
  state: 'running',
  created: 1,
  owned: true,
  ...over,
});
const actions = (p: ReturnType<typeof plan>) =>
  p.steps.map((s) => `${s.action}:${'service' in s ? s.service : s.image}`);

test('no target known: nothing is planned, not even removals', () => {
  const p = plan(base({ containers: [container({ service: 'a' })] }));
  assert.deepEqual(p.steps, []);
});

test('fresh device: pull, create, start each service with the steps chained', () => {
  const t = target({ services: { web: { image: 'reg/web:1' }, db: { image: 'reg/db:1' } } });
  const p = plan(base({ target: t }));
  assert.deepEqual(actions(p), [
    'pullImage:reg/db:1',
    'createContainer:db',
    'startContainer:db',
    'pullImage:reg/web:1',
    'createContainer:web',
    'startContainer:web',
  ]);
  const create = p.steps.find((s) => s.id === 'create:db')!;
  assert.deepEqual(create.needs, ['pull:reg/db:1']);
  assert.deepEqual(p.steps.find((s) => s.id === 'start:db')!.needs, ['create:db']);
});

test('present image is not pulled; two services sharing an image pull it once', () => {
  const t = target({ services: { a: { image: 'img:1' }, b: { image: 'img:1' }, c: { image: 'img:2' } } });
  const p = plan(base({ target: t, presentImages: new Set(['img:2']) }));
  const pulls = p.steps.filter((s) => s.action === 'pullImage');
  assert.equal(pulls.length, 1);
  assert.deepEqual(pulls[0]!.services, ['a', 'b']);
  assert.deepEqual(p.steps.find((s) => s.id === 'create:c')!.needs, []);
});

test('dependency order: dependencies first, dependents wait until the dependency is healthy', () => {
  const t = target({
    services: {
      app: { image: 'i:1', dependsOn: ['api'] },
      api: { image: 'i:1', dependsOn: ['db'] },
      db: { image: 'i:1' },
    },
  });
  assert.deepEqual(dependencyOrder(t.services), ['db', 'api', 'app']);
  // db not healthy yet: only db is brought up, api/app wait (their image is still pulled: shared here).
  const p = plan(base({ target: t, isHealthy: () => false }));
  assert.deepEqual(actions(p), ['pullImage:i:1', 'createContainer:db', 'startContainer:db']);
  assert.deepEqual(
    p.skipped.map((s) => [s.service, s.reason, s.detail]),
    [
      ['api', 'waiting-dependency', 'db'],
      ['app', 'waiting-dependency', 'api'],
    ],
  );
  // db healthy, api not yet: api comes up, app still waits.
  const p2 = plan(
    base({
      target: t,
      presentImages: new Set(['i:1']),
      containers: [container({ service: 'db', specHash: specHash(t.services.db!) })],
      isHealthy: (s) => s === 'db',
    }),
  );
  assert.deepEqual(actions(p2), ['createContainer:api', 'startContainer:api']);
  assert.deepEqual(
    p2.skipped.map((s) => s.service),
    ['app'],
  );
});

test('a dependency with a manual-stop marker keeps its dependents down', () => {
  const t = target({ services: { app: { image: 'i:1', dependsOn: ['db'] }, db: { image: 'i:1' } } });
  const p = plan(base({ target: t, presentImages: new Set(['i:1']), manualStops: new Set(['db']) }));
  assert.deepEqual(actions(p), []);
  assert.deepEqual(
    p.skipped.map((s) => [s.service, s.reason]),
    [
      ['db', 'manual-stop'],
      ['app', 'waiting-dependency'],
    ],
  );
});

test('spec change → recreate: pull first, then stop, remove, create, start', () => {
  const t = target({ services: { web: { image: 'img:2', env: { A: '1' } } } });
  const old = container({ service: 'web', specHash: 'old', image: 'img:1' });
  const p = plan(base({ target: t, containers: [old] }));
  assert.deepEqual(actions(p), [
    'pullImage:img:2',
    'stopContainer:web',
    'removeContainer:web',
    'createContainer:web',
    'startContainer:web',
  ]);
  assert.deepEqual(p.steps[1]!.needs, ['pull:img:2'], 'the old container is not stopped unless the new image arrived');
  assert.deepEqual(p.steps[2]!.needs, [`stop:${old.id}`]);
  assert.deepEqual(p.steps[3]!.needs, [`remove:${old.id}`]);
});

test('unchanged running container: no steps; exited container: start it; health/deps fields do not recreate', () => {
  const spec = { image: 'img:1' };
  const t = target({ services: { web: spec } });
  const hash = specHash(t.services.web!);
  assert.deepEqual(plan(base({ target: t, containers: [container({ service: 'web', specHash: hash })] })).steps, []);
  const p = plan(base({ target: t, containers: [container({ service: 'web', specHash: hash, state: 'exited' })] }));
  assert.deepEqual(actions(p), ['startContainer:web']);
  assert.equal((p.steps[0] as { exitedBefore: boolean }).exitedBefore, true);
  const withCheck = target({ services: { web: { ...spec, healthCheck: { kind: 'tcp', port: 80 } } } });
  assert.equal(specHash(withCheck.services.web!), hash, 'adding a health check does not change the container');
  const offPager = target({ services: { web: { ...spec, notifyOnFail: false } } });
  assert.equal(specHash(offPager.services.web!), hash, 'keeping a service off the pager does not change the container');
});

test('backoff: a gated image skips the service; a gate that expired is retried', () => {
  const t = target({ services: { bad: { image: 'img:missing' }, good: { image: 'img:1' } } });
  const gates = new Map([[stepKeys.image('img:missing'), 5000]]);
  const p = plan(base({ target: t, gates, now: 1000 }));
  assert.deepEqual(actions(p), ['pullImage:img:1', 'createContainer:good', 'startContainer:good']);
  assert.deepEqual(p.skipped, [{ service: 'bad', reason: 'backoff', key: 'image:img:missing', until: 5000 }]);
  const later = plan(base({ target: t, gates, now: 5000 }));
  assert.ok(actions(later).includes('pullImage:img:missing'));
});

test('backoff on start: an exited container is not restarted while its start key is gated', () => {
  const t = target({ services: { web: { image: 'img:1' } } });
  const c = container({ service: 'web', specHash: specHash(t.services.web!), state: 'exited' });
  const p = plan(base({ target: t, containers: [c], gates: new Map([[stepKeys.start('web'), 2000]]) }));
  assert.deepEqual(p.steps, []);
  assert.equal(p.skipped[0]!.reason, 'backoff');
});

test('owned containers not in the target are stopped and removed; unowned ones are never touched', () => {
  const t = target({ services: { web: { image: 'img:1' } } });
  const p = plan(
    base({
      target: t,
      presentImages: new Set(['img:1']),
      containers: [
        container({ service: 'old', id: 'o1' }),
        container({ service: 'stray', id: 'x1', owned: false }),
        container({ service: 'web', id: 'w-foreign', owned: false, state: 'exited' }),
      ],
    }),
  );
  assert.deepEqual(actions(p), [
    'stopContainer:old',
    'removeContainer:old',
    'createContainer:web',
    'startContainer:web',
  ]);
  assert.ok(!p.steps.some((s) => 'containerId' in s && (s.containerId === 'x1' || s.containerId === 'w-foreign')));
});

test('duplicates of a service: the matching running one is kept, the others removed', () => {
  const t = target({ services: { web: { image: 'img:1' } } });
  const hash = specHash(t.services.web!);
  const p = plan(
    base({
      target: t,
      containers: [
        container({ service: 'web', id: 'keep', specHash: hash, created: 1 }),
        container({ service: 'web', id: 'dup', specHash: hash, state: 'exited', created: 2 }),
      ],
    }),
  );
  assert.deepEqual(
    p.steps.map((s) => s.id),
    ['remove:dup'],
  );
});

test('manual-stop marker and holds suppress every step; a marked orphan is left alone', () => {
  const t = target({ services: { web: { image: 'img:9' }, held: { image: 'img:9' } } });
  const p = plan(
    base({
      target: t,
      containers: [container({ service: 'gone' })],
      manualStops: new Set(['web', 'gone']),
      holds: new Map([['held', 'CrashLoopBackOff']]),
    }),
  );
  assert.deepEqual(p.steps, []);
  assert.deepEqual(p.skipped.map((s) => `${s.service}:${s.reason}`).sort(), [
    'gone:manual-stop',
    'held:hold',
    'web:manual-stop',
  ]);
});

test('restart requests restart a running container', () => {
  const t = target({ services: { web: { image: 'img:1' } } });
  const c = container({ service: 'web', specHash: specHash(t.services.web!) });
  const p = plan(base({ target: t, containers: [c], restartRequests: new Set(['web']) }));
  assert.deepEqual(actions(p), ['restartContainer:web']);
});

test('empty target removes every owned container', () => {
  const p = plan(
    base({ target: target({ services: {} }), containers: [container({ service: 'a', state: 'exited' })] }),
  );
  assert.deepEqual(actions(p), ['removeContainer:a']);
});
