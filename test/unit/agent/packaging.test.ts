/**
 * The systemd unit is how a device runs the agent: its ExecStart must start the bundle agent/build.ts writes,
 * under exactly the node flags the bench measures (AGENT_NODE_FLAGS). A flag added to one and not the other
 * would make the memory figure describe a process no device runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { AGENT_BUNDLE } from '../../../agent/build.js';
import { AGENT_NODE_FLAGS } from '../../../agent/src/node-flags.js';

const UNIT = join(import.meta.dirname, '..', '..', '..', 'agent', 'packaging', 'fleetmedic-agent.service');

function execStart(): string[] {
  // Join continuation lines, then split the command into words.
  const text = readFileSync(UNIT, 'utf8').replace(/\\\n\s*/g, ' ');
  const line = text.split('\n').find((l) => l.startsWith('ExecStart='));
  assert.ok(line, 'the unit has an ExecStart line');
  return line.slice('ExecStart='.length).trim().split(/\s+/);
}

test('the systemd unit runs the agent bundle under AGENT_NODE_FLAGS, then `run`', () => {
  const words = execStart();
  assert.match(words[0]!, /\/node$/, 'node first');
  const bundleAt = words.findIndex((w) => w.endsWith('.mjs') || w.endsWith('.js') || w.endsWith('.cjs'));
  assert.ok(bundleAt > 0, `a script path in ${words.join(' ')}`);
  assert.deepEqual(words.slice(1, bundleAt), [...AGENT_NODE_FLAGS], 'node flags between node and the bundle');
  assert.equal(basename(words[bundleAt]!), basename(AGENT_BUNDLE), 'the file agent/build.ts writes');
  assert.equal(words[bundleAt + 1], 'run');
});
