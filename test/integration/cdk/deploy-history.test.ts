/**
 * cdk/scripts/deploy-history.ts as the workflows run it: SSM Parameter Store on moto, and a real git repository
 * with a main branch and a side branch, so "on main" is checked by git itself.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { DeployRecord, run } from '../../../cdk/scripts/deploy-history.js';
import { ensureEmulator, type Emulator } from '../../support/moto.js';

let emulator: Emulator;
let repo: string;
const ssm = new SSMClient({});
const commits: Record<string, string> = {};

function git(...args: string[]): string {
  return execFileSync('git', args, {
    cwd: repo,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@t',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@t',
    },
  }).trim();
}
function commit(name: string): string {
  writeFileSync(join(repo, 'f'), name);
  git('add', 'f');
  git('commit', '-q', '-m', name);
  commits[name] = git('rev-parse', 'HEAD');
  return commits[name];
}

before(async () => {
  emulator = await ensureEmulator();
  repo = mkdtempSync(join(tmpdir(), 'deploy-history-'));
  git('init', '-q', '-b', 'main');
  commit('A');
  commit('B');
  git('checkout', '-q', '-b', 'side');
  commit('X'); // never on main
  git('checkout', '-q', 'main');
  commit('C');
  commit('D');
});
after(async () => {
  rmSync(repo, { recursive: true, force: true });
  await emulator.stop();
});

function cli(stage: string) {
  const record = new DeployRecord(stage, ssm);
  return async (...argv: string[]) => {
    const lines: string[] = [];
    await run(argv, { record, cwd: repo, out: (l) => lines.push(l) });
    return Object.fromEntries(lines.map((l) => l.split('=') as [string, string]));
  };
}

test('deploys are recorded; rollbacks walk back through them, never to the same commit twice, never off main', async () => {
  const stage = `t${randomBytes(4).toString('hex')}`;
  const history = cli(stage);
  const record = new DeployRecord(stage, ssm);
  for (const c of ['A', 'B', 'C']) {
    const begun = await history('begin', '--commit', commits[c]!);
    assert.equal(await record.get('current-attempt'), commits[c]);
    assert.equal(begun.last, c === 'A' ? '' : commits[c === 'B' ? 'A' : 'B']);
    await history('record-deploy', '--commit', commits[c]!);
  }
  // D's deploy failed: attempted, never recorded.
  await history('begin', '--commit', commits.D!);
  assert.equal(await record.get('last-successful'), commits.C);

  const first = await history('choose-rollback', '--main', 'main');
  assert.deepEqual(first, { sha: commits.B, current: commits.C });
  await history('record-rollback', '--commit', first.sha!);
  assert.equal(await record.get('last-successful'), commits.B);
  assert.equal(await record.get('rolled-back-from'), commits.C);

  const second = await history('choose-rollback', '--main', 'main', '--requested', '');
  assert.equal(second.sha, commits.A, 'a second rollback without input goes further back');
  await history('record-rollback', '--commit', second.sha!);
  await assert.rejects(history('choose-rollback', '--main', 'main'), /no earlier successful deployment/);

  // A short sha of a recorded commit resolves to the full one.
  await history('record-deploy', '--commit', commits.C!);
  assert.equal(
    (await history('choose-rollback', '--main', 'main', '--requested', commits.A!.slice(0, 7))).sha,
    commits.A,
  );
  // Commits that are not recorded, or not on main, are refused (X is made to look recorded).
  await assert.rejects(
    history('choose-rollback', '--main', 'main', '--requested', commits.B!.slice(0, 9)),
    /not a recorded successful deployment/,
  );
  await history('record-deploy', '--commit', commits.X!);
  await history('record-deploy', '--commit', commits.C!);
  await assert.rejects(
    history('choose-rollback', '--main', 'main', '--requested', commits.X!),
    /is not a commit on main/,
  );
  await assert.rejects(history('verify-on-main', '--commit', commits.X!, '--main', 'main'), /is not a commit on main/);
  await history('verify-on-main', '--commit', commits.A!, '--main', 'main');
  await assert.rejects(history('record-deploy', '--commit', 'abc1234'), /full 40-hex sha/);
});

test('a stage deployed before the history existed starts from its last- and previous-successful', async () => {
  const stage = `t${randomBytes(4).toString('hex')}`;
  for (const [k, c] of [
    ['last-successful', 'B'],
    ['previous-successful', 'A'],
  ] as const) {
    await ssm.send(
      new PutParameterCommand({ Name: `/fleetmedic/${stage}/deploy/${k}`, Value: commits[c]!, Type: 'String' }),
    );
  }
  const history = cli(stage);
  assert.equal((await history('choose-rollback', '--main', 'main')).sha, commits.A);
  await history('record-deploy', '--commit', commits.C!);
  assert.equal(
    await new DeployRecord(stage, ssm).get('successful-history'),
    [commits.C, commits.B, commits.A].join(' '),
  );
});
