/**
 * Lint and format are part of `npm test`: Biome checks the whole tree (biome.json) and the test fails with its
 * diagnostics when a rule is broken or a file is not formatted. Fix with `npx biome check --write .`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..');

test('biome: the tree is linted and formatted (npx biome check --write . fixes most findings)', () => {
  const biome = join(root, 'node_modules', '.bin', 'biome');
  const run = spawnSync(biome, ['ci', '--colors=off', '--max-diagnostics=50', '.'], { cwd: root, encoding: 'utf8' });
  assert.equal(run.error, undefined, `biome could not run: ${run.error?.message}`);
  assert.equal(run.status, 0, `biome found problems:\n${run.stdout}\n${run.stderr}`);
});
