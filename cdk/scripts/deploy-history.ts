/**
 * The record of successful deployments that the deploy and rollback workflows keep in SSM Parameter Store, and
 * the rules for choosing a rollback target from it (docs/deploy.md "Rollback"):
 *
 *   /fleetmedic/<stage>/deploy/current-attempt      the commit being deployed right now
 *   /fleetmedic/<stage>/deploy/last-successful      the commit deployed now (passed acceptance)
 *   /fleetmedic/<stage>/deploy/successful-history   full shas that deployed and passed acceptance, newest first
 *   /fleetmedic/<stage>/deploy/rolled-back-from     what the last manual rollback replaced
 *
 * A rollback only ever goes to a commit in the history (recorded as successful) that is on main, and it pops
 * the history down to that commit: what it replaced is no longer a candidate, so a second rollback without
 * input goes one further back instead of redeploying the same commit.
 *
 *   npx tsx cdk/scripts/deploy-history.ts begin --commit <sha>             → prints last=<sha|>
 *   npx tsx cdk/scripts/deploy-history.ts record-deploy --commit <sha>
 *   npx tsx cdk/scripts/deploy-history.ts choose-rollback [--requested <7..40 hex>] [--main <ref>]
 *                                                                         → prints sha=<full> current=<sha|>
 *   npx tsx cdk/scripts/deploy-history.ts verify-on-main --commit <sha> [--main <ref>]
 *   npx tsx cdk/scripts/deploy-history.ts record-rollback --commit <sha>
 * The stage comes from STAGE (default prod); output lines are `key=value`, ready for $GITHUB_OUTPUT.
 */
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { GetParameterCommand, ParameterNotFound, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';

/** How many successful deployments stay rollback candidates (an SSM String holds 4 KB: 41 bytes each). */
export const HISTORY_LIMIT = 30;
const FULL_SHA = /^[0-9a-f]{40}$/;
const SHA_PREFIX = /^[0-9a-f]{7,40}$/;

export class DeployHistoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeployHistoryError';
  }
}

export function isFullSha(s: string | undefined): s is string {
  return !!s && FULL_SHA.test(s);
}

/** A successful deploy of `sha`: it goes first, any older entry of it is dropped, the list is capped. */
export function recordDeploy(history: readonly string[], sha: string): string[] {
  if (!isFullSha(sha)) throw new DeployHistoryError(`not a full commit sha: '${sha}'`);
  return [sha, ...history.filter((h) => h !== sha)].slice(0, HISTORY_LIMIT);
}

/**
 * The commit a rollback deploys. `requested` (7..40 hex) must match exactly one recorded successful commit;
 * without it, the one recorded before the commit deployed now (`current`).
 */
export function chooseRollback(history: readonly string[], current: string | undefined, requested?: string): string {
  const wanted = requested?.trim().toLowerCase();
  if (wanted) {
    if (!SHA_PREFIX.test(wanted))
      throw new DeployHistoryError(`'${requested}' is not a commit sha (7 to 40 hex digits)`);
    const matches = history.filter((h) => h.startsWith(wanted));
    if (matches.length === 0)
      throw new DeployHistoryError(
        `${wanted} is not a recorded successful deployment (candidates: ${history.join(' ') || 'none'})`,
      );
    if (matches.length > 1)
      throw new DeployHistoryError(
        `${wanted} is ambiguous among recorded deployments: ${matches.join(' ')}; give more digits`,
      );
    const target = matches[0]!;
    if (target === current) throw new DeployHistoryError(`${target} is already the deployed commit`);
    return target;
  }
  const at = current ? history.indexOf(current) : -1;
  const target = at >= 0 ? history[at + 1] : history.find((h) => h !== current);
  if (!target)
    throw new DeployHistoryError(
      `no earlier successful deployment to roll back to (deployed: ${current ?? 'unknown'}, history: ${history.join(' ') || 'none'})`,
    );
  return target;
}

/** After a rollback to `target`: the commits it replaced leave the history (they are why it was rolled back). */
export function afterRollback(history: readonly string[], target: string): string[] {
  const at = history.indexOf(target);
  if (at < 0) throw new DeployHistoryError(`${target} is not in the deployment history`);
  return history.slice(at);
}

export function parseHistory(value: string | undefined): string[] {
  return (value ?? '').split(/\s+/).filter(isFullSha);
}

/** SSM parameters of one stage. */
export class DeployRecord {
  constructor(
    private readonly stage: string,
    private readonly ssm: SSMClient = new SSMClient({}),
  ) {}

  private name(key: string): string {
    return `/fleetmedic/${this.stage}/deploy/${key}`;
  }

  async get(key: string): Promise<string | undefined> {
    try {
      const res = await this.ssm.send(new GetParameterCommand({ Name: this.name(key) }));
      return res.Parameter?.Value?.trim() || undefined;
    } catch (err) {
      if (err instanceof ParameterNotFound) return undefined;
      throw err;
    }
  }

  async put(key: string, value: string): Promise<void> {
    await this.ssm.send(
      new PutParameterCommand({ Name: this.name(key), Value: value, Type: 'String', Overwrite: true }),
    );
  }

  /** The history; a stage deployed before the history existed starts from its last/previous-successful. */
  async history(): Promise<string[]> {
    const stored = await this.get('successful-history');
    if (stored !== undefined) return parseHistory(stored);
    const seed = [await this.get('last-successful'), await this.get('previous-successful')].filter(isFullSha);
    return [...new Set(seed)];
  }
}

/** Throws unless `sha` is reachable from `mainRef` in the git repository at `cwd`. */
export function verifyOnMain(sha: string, mainRef: string, cwd = process.cwd()): void {
  try {
    execFileSync('git', ['merge-base', '--is-ancestor', sha, mainRef], { cwd, stdio: 'ignore' });
  } catch {
    throw new DeployHistoryError(`${sha} is not a commit on ${mainRef}`);
  }
}

export async function run(
  argv: string[],
  opts: { record?: DeployRecord; cwd?: string; out?: (line: string) => void } = {},
): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { commit: { type: 'string' }, requested: { type: 'string' }, main: { type: 'string', default: 'HEAD' } },
  });
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const record = opts.record ?? new DeployRecord(process.env.STAGE || 'prod');
  const commit = () => {
    if (!isFullSha(values.commit))
      throw new DeployHistoryError(`--commit must be a full 40-hex sha, got '${values.commit ?? ''}'`);
    return values.commit;
  };
  switch (positionals[0]) {
    case 'begin': {
      const sha = commit();
      out(`last=${(await record.get('last-successful')) ?? ''}`);
      await record.put('current-attempt', sha);
      return;
    }
    case 'record-deploy': {
      const sha = commit();
      await record.put('successful-history', recordDeploy(await record.history(), sha).join(' '));
      await record.put('last-successful', sha);
      return;
    }
    case 'verify-on-main':
      verifyOnMain(commit(), values.main!, opts.cwd);
      return;
    case 'choose-rollback': {
      const current = await record.get('last-successful');
      const target = chooseRollback(await record.history(), current, values.requested);
      verifyOnMain(target, values.main!, opts.cwd);
      out(`sha=${target}`);
      out(`current=${current ?? ''}`);
      return;
    }
    case 'record-rollback': {
      const sha = commit();
      const current = await record.get('last-successful');
      await record.put('successful-history', afterRollback(await record.history(), sha).join(' '));
      if (current && current !== sha) await record.put('rolled-back-from', current);
      await record.put('last-successful', sha);
      return;
    }
    default:
      throw new DeployHistoryError(
        `unknown command '${positionals[0] ?? ''}' (begin, record-deploy, verify-on-main, choose-rollback, record-rollback)`,
      );
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`::error::${err.message}\n`);
    process.exit(1);
  });
}
