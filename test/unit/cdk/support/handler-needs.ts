/**
 * What a handler's code actually reads, found by bundling it with esbuild (tree-shaken, dependencies left
 * external, not minified) and reading the output: code the handler cannot reach is not in it.
 * - env: the variables behind every `config.<getter>` the bundle uses (getters parsed from
 *   functions/lib/config.ts), plus direct `process.env.X` reads outside config.ts;
 * - actions: the IAM actions behind every AWS SDK command the bundle imports (and Powertools idempotency's
 *   DynamoDB persistence layer, whose commands live inside the package);
 * - metrics: which of the given metric names appear as string literals.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { PROJECT_ROOT } from '../../../../cdk/lib/synth.js';

const CONFIG_FILE = join(PROJECT_ROOT, 'functions', 'lib', 'config.ts');

/** getter name → the env vars it reads. */
export function configGetters(): Map<string, string[]> {
  const src = readFileSync(CONFIG_FILE, 'utf8');
  const getters = new Map<string, string[]>();
  for (const m of src.matchAll(/get (\w+)\(\)[^{]*\{(.*?)\},?\s*$/gm)) {
    const body = m[2]!;
    const vars = new Set([...body.matchAll(/['"]([A-Z][A-Z0-9_]+)['"]/g), ...body.matchAll(/process\.env\.([A-Z][A-Z0-9_]+)/g)].map((x) => x[1]!));
    getters.set(m[1]!, [...vars]);
  }
  if (getters.size < 10) throw new Error(`could not parse the getters of ${CONFIG_FILE}`);
  return getters;
}

export interface HandlerNeeds {
  env: Set<string>;
  actions: Set<string>;
  metrics: Set<string>;
}

const SERVICE_PREFIX: Record<string, string> = {
  'client-dynamodb': 'dynamodb',
  'lib-dynamodb': 'dynamodb',
  'client-sqs': 'sqs',
  'client-sns': 'sns',
  'client-secrets-manager': 'secretsmanager',
  'client-ssm': 'ssm',
};
/** Commands whose IAM action is not simply the command's name. */
const SPECIAL_ACTIONS: Record<string, string[]> = {
  'lib-dynamodb:GetCommand': ['GetItem'],
  'lib-dynamodb:PutCommand': ['PutItem'],
  'lib-dynamodb:UpdateCommand': ['UpdateItem'],
  'lib-dynamodb:DeleteCommand': ['DeleteItem'],
  'lib-dynamodb:QueryCommand': ['Query'],
  'lib-dynamodb:ScanCommand': ['Scan'],
  'lib-dynamodb:BatchGetCommand': ['BatchGetItem'],
  'lib-dynamodb:BatchWriteCommand': ['BatchWriteItem'],
  'lib-dynamodb:TransactGetCommand': ['GetItem'],
  // A transaction is authorised item by item, with the actions of its parts.
  'lib-dynamodb:TransactWriteCommand': ['PutItem', 'UpdateItem', 'DeleteItem', 'ConditionCheckItem'],
  'client-dynamodb:TransactWriteItemsCommand': ['PutItem', 'UpdateItem', 'DeleteItem', 'ConditionCheckItem'],
  'client-sqs:SendMessageBatchCommand': ['SendMessage'],
  'client-sqs:DeleteMessageBatchCommand': ['DeleteMessage'],
  'client-sqs:ChangeMessageVisibilityBatchCommand': ['ChangeMessageVisibility'],
  'client-sns:PublishBatchCommand': ['Publish'],
};
const IDEMPOTENCY_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'];

export async function handlerNeeds(entry: string, metricNames: readonly string[]): Promise<HandlerNeeds> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    packages: 'external',
    treeShaking: true,
    minify: false,
    logLevel: 'silent',
  });
  const text = result.outputFiles[0]!.text;
  const getters = configGetters();
  const env = new Set<string>();
  for (const [getter, vars] of getters) {
    if (new RegExp(`\\.${getter}\\b(?!\\s*\\()`).test(text)) vars.forEach((v) => env.add(v));
  }
  // Direct reads elsewhere; the config object's own getters are counted through their uses above.
  const configVars = new Set([...getters.values()].flat());
  for (const m of text.matchAll(/process\.env(?:\.([A-Z][A-Z0-9_]+)|\[["']([A-Z][A-Z0-9_]+)["']\])/g)) {
    const name = m[1] ?? m[2]!;
    if (!configVars.has(name)) env.add(name);
  }
  // esbuild keeps an external module's import statement whole (importing may have side effects), so a
  // binding counts only if the code outside the import statements still uses it.
  const importRe = /import\s*\{([^}]*)\}\s*from\s*["']([^"']+)["'];?/g;
  const body = text.replace(importRe, '');
  const used = (binding: string) => new RegExp(`\\b${binding}\\b`).test(body);
  const actions = new Set<string>();
  for (const m of text.matchAll(importRe)) {
    const from = m[2]!;
    const bindings = m[1]!.split(',').map((spec) => spec.trim().split(/\s+as\s+/)).filter((x) => x[0]);
    if (from === '@aws-lambda-powertools/idempotency/dynamodb' && bindings.some((b) => used(b[1] ?? b[0]!))) {
      IDEMPOTENCY_ACTIONS.forEach((a) => actions.add(a));
    }
    const pkg = from.startsWith('@aws-sdk/') ? from.slice('@aws-sdk/'.length) : '';
    const prefix = SERVICE_PREFIX[pkg];
    if (!prefix) continue;
    for (const [imported, local] of bindings) {
      if (!imported!.endsWith('Command') || !used(local ?? imported!)) continue;
      for (const a of SPECIAL_ACTIONS[`${pkg}:${imported}`] ?? [imported!.replace(/Command$/, '')]) actions.add(`${prefix}:${a}`);
    }
  }
  const metrics = new Set(metricNames.filter((n) => text.includes(`"${n}"`) || text.includes(`'${n}'`)));
  return { env, actions, metrics };
}
