/**
 * Container names carry the agent id by default (docs/architecture.md, agent state; README "Installing the
 * agent"): two agents on one engine never collide on a name, and a container created under the old default
 * name (`fleetmedic_<service>`) is adopted, not duplicated, and renamed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TargetState } from '../../functions/contract/target-state.js';
import { Executor } from '../../agent/src/engine/executor.js';
import { defaultConfig } from '../../agent/src/config.js';
import { resolveConfig } from '../../agent/src/cli.js';
import { harness } from './support/agent-harness.js';

test('the default container name prefix includes the agent id (flags and environment alike)', () => {
  assert.equal(defaultConfig({ agentId: 'pump-1' }).namePrefix, 'fleetmedic_pump-1_');
  assert.equal(resolveConfig({ agentId: 'pump-2' }, {}).namePrefix, 'fleetmedic_pump-2_');
  assert.equal(resolveConfig({}, { FLEETMEDIC_AGENT_ID: 'pump-3' }).namePrefix, 'fleetmedic_pump-3_');
  assert.equal(resolveConfig({ agentId: 'pump-4', namePrefix: 'x_' }, {}).namePrefix, 'x_', 'an explicit prefix wins');
});

test('two agents on one engine with the default names both run the service; a container under the old name is adopted and renamed', async (t) => {
  const a = await harness('names-a');
  const b = await harness('names-b');
  t.after(() => Promise.all([a.cleanup(), b.cleanup()]));
  // A service name of its own: the old default name has no agent id, so it must not collide with parallel runs.
  const svc = `web${randomBytes(3).toString('hex')}`;
  const image = `${a.registry}/lab/busybox:1`;
  const target = { services: { [svc]: { image, command: ['sleep', '3600'] } } };
  await a.writeTarget(target);
  await b.writeTarget(target);

  // Agent A's container as an agent before this change made it: same labels, old name.
  const legacy = new Executor({
    docker: a.docker,
    agentId: a.agentId,
    namePrefix: 'fleetmedic_',
    stopTimeoutSeconds: 1,
    pullTimeoutMs: 60_000,
  });
  await legacy.pull(image);
  const oldId = await legacy.create(svc, TargetState.parse(target).services[svc]!);
  await legacy.start(oldId);
  assert.equal((await a.docker.getContainer(oldId).inspect()).Name.replace(/^\//, ''), `fleetmedic_${svc}`);

  const agentA = await a.open({ namePrefix: defaultConfig({ agentId: a.agentId }).namePrefix });
  const ra = await agentA.reconcileNow();
  assert.equal(ra.success, true, JSON.stringify(ra.errors));
  const mineA = await a.byService(svc);
  assert.deepEqual(
    mineA.map((c) => c.Id),
    [oldId],
    'the old container is adopted, not replaced',
  );
  assert.equal(mineA[0]!.State, 'running');
  assert.deepEqual(
    mineA[0]!.Names.map((n) => n.replace(/^\//, '')),
    [`fleetmedic_${a.agentId}_${svc}`],
    'renamed to the name with the agent id',
  );

  const agentB = await b.open({ namePrefix: defaultConfig({ agentId: b.agentId }).namePrefix });
  const rb = await agentB.reconcileNow();
  assert.equal(
    rb.success,
    true,
    `the second agent runs the same service without a name conflict: ${JSON.stringify(rb.errors)}`,
  );
  const mineB = await b.byService(svc);
  assert.equal(mineB.length, 1);
  assert.equal(mineB[0]!.State, 'running');
  assert.deepEqual(
    mineB[0]!.Names.map((n) => n.replace(/^\//, '')),
    [`fleetmedic_${b.agentId}_${svc}`],
  );
  assert.equal((await a.byService(svc))[0]!.Id, oldId, "agent A's container is untouched");
});
