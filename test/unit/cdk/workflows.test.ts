/**
 * The GitHub Actions workflows cannot run here (no GitHub, no AWS); these checks keep their contract from
 * rotting: OIDC only (never long-lived keys), the commands and files they call exist, and the deploy →
 * acceptance → record / roll back chain is wired to the same SSM parameters the rollback workflow reads.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PROJECT_ROOT } from '../../../cdk/lib/synth.js';

const read = (name: string) => readFileSync(join(PROJECT_ROOT, '.github', 'workflows', name), 'utf8');
const ci = read('ci.yml');
const deploy = read('deploy.yml');
const rollback = read('rollback.yml');

test('no workflow uses long-lived AWS keys; AWS access is an OIDC-assumed role from a repository variable', () => {
  for (const [name, text] of Object.entries({ ci, deploy, rollback })) {
    assert.doesNotMatch(text, /aws-access-key-id|aws-secret-access-key|AWS_SECRET_ACCESS_KEY|secrets\.AWS/i, name);
  }
  for (const text of [deploy, rollback]) {
    assert.match(text, /id-token: write/);
    assert.match(text, /aws-actions\/configure-aws-credentials@v\d+/);
    assert.match(text, /role-to-assume: \$\{\{ vars\.AWS_DEPLOY_ROLE_ARN \}\}/);
  }
  assert.doesNotMatch(ci, /configure-aws-credentials/, 'pull requests never get AWS credentials');
});

test('ci: typecheck, every test, offline cdk synth; deploy reuses it before deploying', () => {
  assert.match(ci, /pull_request:/);
  assert.match(ci, /workflow_call:/);
  assert.match(ci, /npm run typecheck/);
  assert.match(ci, /npm test/);
  assert.match(ci, /npx cdk synth --quiet/);
  assert.match(deploy, /uses: \.\/\.github\/workflows\/ci\.yml/);
  assert.match(deploy, /needs: test/);
});

test('deploy: main only, cdk deploy without approval prompts, acceptance against the deployed version', () => {
  assert.match(deploy, /push:\s*\n\s*branches: \[main\]/);
  assert.match(deploy, /npx cdk deploy "Fleetmedic-\$STAGE" --require-approval never/);
  assert.match(deploy, /-c version="\$GITHUB_SHA"/);
  assert.match(deploy, /npx tsx cdk\/scripts\/acceptance\.ts --outputs-file cdk-outputs\.json --stack "Fleetmedic-\$STAGE" --expect-version "\$GITHUB_SHA"/);
  assert.ok(existsSync(join(PROJECT_ROOT, 'cdk', 'scripts', 'acceptance.ts')));
  assert.match(deploy, /cancel-in-progress: false/, 'a deploy is never cancelled half-way');
});

test('deploy: success records last-successful (and previous-successful); failure redeploys last-successful and re-runs acceptance', () => {
  const record = deploy.slice(deploy.indexOf('Record this commit as last-successful'));
  assert.match(record, /if: steps\.deploy\.outcome == 'success' && steps\.acceptance\.outcome == 'success'/);
  assert.match(record, /\/fleetmedic\/\$STAGE\/deploy\/previous-successful/);
  assert.match(record, /\/fleetmedic\/\$STAGE\/deploy\/last-successful/);
  const back = deploy.slice(deploy.indexOf('Roll back to the last successful commit'));
  assert.match(back, /if: steps\.deploy\.outcome != 'success' \|\| steps\.acceptance\.outcome != 'success'/);
  assert.match(back, /git worktree add --detach "\$dir" "\$LAST"/);
  assert.match(back, /-c version="\$LAST"/);
  assert.match(back, /acceptance\.ts .*--expect-version "\$LAST"/);
  assert.match(deploy, /Fail the run when this commit did not deploy cleanly[\s\S]*exit 1/);
});

test('rollback: manual, optional commit input, default previous-successful from SSM, acceptance, then recorded', () => {
  assert.match(rollback, /workflow_dispatch:/);
  assert.match(rollback, /commit:\s*\n\s*description: .*\n\s*required: false/);
  assert.match(rollback, /\/fleetmedic\/\$STAGE\/deploy\/previous-successful/);
  assert.match(rollback, /ref: \$\{\{ steps\.target\.outputs\.sha \}\}/);
  assert.match(rollback, /npx cdk deploy "Fleetmedic-\$STAGE" --require-approval never/);
  assert.match(rollback, /acceptance\.ts .*--expect-version/);
  assert.match(rollback, /\/fleetmedic\/\$STAGE\/deploy\/last-successful" --type String --overwrite --value "\$TO"/);
});
