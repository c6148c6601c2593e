/**
 * The GitHub Actions workflows cannot run here (no GitHub, no AWS); these checks keep their contract from
 * rotting: each file validates against the workflow JSON schema (SchemaStore's github-workflow.json, Apache-2.0,
 * vendored in fixtures/ because no current actionlint build installs from npm or Debian), OIDC only (never
 * long-lived keys), only main deploys, actions pinned to commit shas, the OIDC token only where the role is
 * assumed, repository variables never expanded into a script, and the deploy → acceptance → record / roll back
 * chain wired to cdk/scripts/deploy-history.ts (tested in deploy-history.test.ts).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { PROJECT_ROOT } from '../../../cdk/lib/synth.js';

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  if?: string;
  needs?: string | string[];
  uses?: string;
  environment?: string;
  permissions?: Record<string, string>;
  steps?: Step[];
  env?: Record<string, string>;
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  concurrency?: { group: string; 'cancel-in-progress': boolean };
  jobs: Record<string, Job>;
}

const NAMES = ['ci.yml', 'deploy.yml', 'rollback.yml'] as const;
const text = Object.fromEntries(
  NAMES.map((n) => [n, readFileSync(join(PROJECT_ROOT, '.github', 'workflows', n), 'utf8')]),
) as Record<(typeof NAMES)[number], string>;
const wf = Object.fromEntries(NAMES.map((n) => [n, parse(text[n]) as Workflow])) as Record<
  (typeof NAMES)[number],
  Workflow
>;
const { 'ci.yml': ci, 'deploy.yml': deploy, 'rollback.yml': rollback } = wf;

const assumesRole = (job: Job) =>
  (job.steps ?? []).some((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'));
const jobsOf = (w: Workflow) => Object.entries(w.jobs);
const allSteps = (w: Workflow) => jobsOf(w).flatMap(([, j]) => j.steps ?? []);

test('every workflow validates against the GitHub workflow schema (and the check rejects a malformed one)', () => {
  const schema = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'github-workflow.schema.json'), 'utf8'));
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const validate = ajv.compile(schema);
  for (const n of NAMES) assert.ok(validate(wf[n]), `${n}: ${ajv.errorsText(validate.errors)}`);
  const misspelt = parse('on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: [{ run: echo }]\n');
  assert.equal(validate(misspelt), false, 'the schema catches an unknown job key');
});

test('every action is pinned to a full commit sha with its release tag in a comment', () => {
  for (const n of NAMES) {
    for (const line of text[n].split('\n').filter((l) => /^\s*-?\s*uses:/.test(l))) {
      const ref = line.replace(/^\s*-?\s*uses:\s*/, '');
      if (ref.startsWith('./')) continue; // this repository's own reusable workflow
      assert.match(ref, /^[\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/, `${n}: ${line.trim()}`);
    }
  }
});

test('no workflow uses long-lived AWS keys; AWS access is an OIDC-assumed role from a repository variable', () => {
  for (const n of NAMES)
    assert.doesNotMatch(text[n], /aws-access-key-id|aws-secret-access-key|AWS_SECRET_ACCESS_KEY|secrets\.AWS/i, n);
  for (const s of [...allSteps(deploy), ...allSteps(rollback)].filter((x) =>
    x.uses?.startsWith('aws-actions/configure-aws-credentials@'),
  )) {
    assert.equal(s.with?.['role-to-assume'], '${{ vars.AWS_DEPLOY_ROLE_ARN }}');
  }
  assert.ok(
    !allSteps(ci).some((s) => s.uses?.includes('configure-aws-credentials')),
    'pull requests never get AWS credentials',
  );
});

test('the OIDC token only on the jobs that assume the role, and those run in the stage environment', () => {
  for (const n of NAMES) {
    assert.ok(!wf[n].permissions?.['id-token'], `${n}: no workflow-wide id-token permission`);
    for (const [id, job] of jobsOf(wf[n])) {
      assert.equal(
        job.permissions?.['id-token'] === 'write',
        assumesRole(job),
        `${n} ${id}: id-token: write if and only if it assumes the role`,
      );
      if (assumesRole(job)) assert.equal(job.environment, "${{ vars.FLEETMEDIC_STAGE || 'prod' }}", `${n} ${id}`);
    }
  }
  assert.deepEqual(deploy.permissions, {});
  assert.deepEqual(rollback.permissions, {});
});

test('only main deploys: push to main is the only deploy trigger, and every job that can deploy checks the ref', () => {
  assert.deepEqual(Object.keys(deploy.on), ['push']);
  assert.deepEqual(deploy.on.push, { branches: ['main'] });
  assert.deepEqual(Object.keys(rollback.on), ['workflow_dispatch']);
  for (const w of [deploy, rollback]) {
    for (const [id, job] of jobsOf(w)) assert.match(job.if ?? '', /github\.ref == 'refs\/heads\/main'/, id);
  }
  assert.deepEqual(
    Object.keys((rollback.on.workflow_dispatch as { inputs: object }).inputs),
    ['commit'],
    'no stage input: the stage and its environment come from the repository variable',
  );
});

test('repository variables and inputs reach scripts only through env:, never expanded into the script text', () => {
  for (const n of NAMES) {
    for (const s of allSteps(wf[n]).filter((x) => x.run))
      assert.doesNotMatch(s.run!, /\$\{\{/, `${n} "${s.name ?? s.run}"`);
  }
  const withContext = [...allSteps(deploy), ...allSteps(rollback)].filter((s) => s.run?.includes('cdk-deploy.sh'));
  assert.equal(withContext.length, 3, 'deploy, automatic rollback, manual rollback');
  for (const s of withContext) assert.equal(s.env?.FLEETMEDIC_CONTEXT, '${{ vars.FLEETMEDIC_CONTEXT }}');
});

test('no install scripts run where the OIDC token is available; no shared npm cache there either', () => {
  for (const w of [deploy, rollback]) {
    for (const [id, job] of jobsOf(w).filter(([, j]) => assumesRole(j))) {
      const installs = (job.steps ?? [])
        .flatMap((s) => (s.run ?? '').split('\n'))
        .filter((l) => /\bnpm (ci|install|i)\b/.test(l));
      assert.ok(installs.length > 0, id);
      for (const l of installs) assert.match(l, /npm ci --ignore-scripts/, `${id}: ${l.trim()}`);
      for (const s of (job.steps ?? []).filter((x) => x.uses?.startsWith('actions/setup-node@'))) {
        assert.equal(s.with?.['package-manager-cache'], false, id);
        assert.equal(s.with?.cache, undefined, id);
      }
      for (const s of (job.steps ?? []).filter((x) => x.uses?.startsWith('actions/checkout@')))
        assert.equal(s.with?.['persist-credentials'], false, id);
    }
  }
});

test('ci: typecheck, every test, offline cdk synth; deploy reuses it before deploying', () => {
  assert.ok('pull_request' in ci.on && 'workflow_call' in ci.on);
  const runs = allSteps(ci).map((s) => s.run ?? '');
  for (const cmd of ['npm run typecheck', 'npm test', 'npx cdk synth --quiet'])
    assert.ok(
      runs.some((r) => r.includes(cmd)),
      cmd,
    );
  assert.equal(deploy.jobs.test?.uses, './.github/workflows/ci.yml');
  assert.equal(deploy.jobs.deploy?.needs, 'test');
});

test('deploy: cdk deploy of this commit, acceptance against it, then recorded as successful', () => {
  const steps = deploy.jobs.deploy!.steps!;
  const runs = steps.map((s) => s.run ?? '');
  const at = (re: RegExp) => runs.findIndex((r) => re.test(r));
  const begin = at(/deploy-history\.ts begin --commit "\$GITHUB_SHA"/);
  const cdk = at(/^cdk\/scripts\/cdk-deploy\.sh "\$GITHUB_SHA"$/m);
  const acceptance = at(
    /acceptance\.ts --outputs-file cdk-outputs\.json --stack "Fleetmedic-\$STAGE" --expect-version "\$GITHUB_SHA"/,
  );
  const record = at(/deploy-history\.ts record-deploy --commit "\$GITHUB_SHA"/);
  assert.ok(
    begin >= 0 && begin < cdk && cdk < acceptance && acceptance < record,
    JSON.stringify({ begin, cdk, acceptance, record }),
  );
  assert.ok(
    !steps.some((s) => 'continue-on-error' in s),
    'a failed step fails the job (the rollback job keys on that)',
  );
  assert.ok(existsSync(join(PROJECT_ROOT, 'cdk', 'scripts', 'acceptance.ts')));
  assert.equal(deploy.concurrency?.['cancel-in-progress'], false, 'a deploy is never cancelled half-way');
  assert.equal(
    rollback.concurrency?.group,
    deploy.concurrency?.group,
    'a rollback and a deploy of one stage never overlap',
  );
});

test('deploy: a failed deploy is rolled back by its own job, with its own credentials, to the last successful commit', () => {
  const job = deploy.jobs.rollback!;
  assert.equal(job.needs, 'deploy');
  assert.match(job.if!, /always\(\)/);
  assert.match(job.if!, /needs\.deploy\.result == 'failure'/);
  assert.match(
    job.if!,
    /needs\.deploy\.outputs\.attempted == 'true'/,
    'no rollback when the tests failed and nothing was deployed',
  );
  assert.ok(assumesRole(job));
  const session = job.steps!.find((s) => s.uses?.startsWith('aws-actions/configure-aws-credentials@'))!.with![
    'role-session-name'
  ];
  assert.match(String(session), /auto-rollback/);
  assert.equal(job.env?.LAST, '${{ needs.deploy.outputs.last }}');
  const script = job.steps!.map((s) => s.run ?? '').join('\n');
  assert.match(script, /deploy-history\.ts verify-on-main --commit "\$LAST" --main "\$GITHUB_SHA"/);
  assert.match(script, /git worktree add --detach "\$RUNNER_TEMP\/rollback" "\$LAST"/);
  assert.match(script, /"\$GITHUB_WORKSPACE\/cdk\/scripts\/cdk-deploy\.sh" "\$LAST"/);
  assert.match(script, /acceptance\.ts .*--expect-version "\$LAST"/);
});

test('rollback: only to a commit on main recorded as successful (short shas resolved), acceptance, then recorded', () => {
  const job = rollback.jobs.rollback!;
  const choose = job.steps!.find((s) => s.run?.includes('choose-rollback'))!;
  assert.equal(choose.env?.REQUESTED, '${{ inputs.commit }}');
  assert.match(choose.run!, /deploy-history\.ts choose-rollback --requested "\$REQUESTED" --main "\$GITHUB_SHA"/);
  const checkout = job.steps!.find((s) => s.uses?.startsWith('actions/checkout@'))!;
  assert.equal(checkout.with?.['fetch-depth'], 0, 'all of main, to check the target is on it');
  assert.equal(checkout.with?.ref, undefined, 'the workflow runs its own (main) code; the target goes to a worktree');
  const script = job.steps!.map((s) => s.run ?? '').join('\n');
  assert.match(script, /git worktree add --detach "\$RUNNER_TEMP\/rollback" "\$TARGET"/);
  assert.match(script, /"\$GITHUB_WORKSPACE\/cdk\/scripts\/cdk-deploy\.sh" "\$TARGET"/);
  assert.match(script, /acceptance\.ts .*--expect-version "\$TARGET"/);
  assert.match(script, /deploy-history\.ts record-rollback --commit "\$TARGET"/);
  for (const s of job.steps!.filter((x) => x.env?.TARGET))
    assert.equal(s.env!.TARGET, '${{ steps.target.outputs.sha }}');
});
