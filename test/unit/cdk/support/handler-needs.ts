/**
 * What a handler's code actually reads, found by bundling it with esbuild (tree-shaken, dependencies left
 * external, not minified) and reading the output: code the handler cannot reach is not in it.
 * - env: the variables behind every `config.<getter>` the bundle uses (getters parsed from
 *   functions/lib/config.ts), plus direct `process.env.X` reads outside config.ts;
 * - actions: the IAM actions behind every AWS SDK command the bundle imports (and Powertools idempotency's
 *   DynamoDB persistence layer, whose commands live inside the package);
 * - tables: per table (by its env var), the DynamoDB actions and the indexes the code uses on it. esbuild marks
 *   each module's code with a `// path` comment; a module's DynamoDB commands and `IndexName` literals count for
 *   the tables that module names (`config.<table>`). A Query counts on the table itself only where a module
 *   builds one without an IndexName; an index gets Query and nothing else.
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
  // A getter's body runs to the closing brace at the object's indentation (one line or several).
  for (const m of src.matchAll(/^ {2}get (\w+)\(\)[^{]*\{([\s\S]*?)^ {2}\},?\s*$/gm)) {
    const body = m[2]!;
    const vars = new Set(
      [...body.matchAll(/['"]([A-Z][A-Z0-9_]+)['"]/g), ...body.matchAll(/process\.env\.([A-Z][A-Z0-9_]+)/g)].map(
        (x) => x[1]!,
      ),
    );
    getters.set(m[1]!, [...vars]);
  }
  if (getters.size < 10) throw new Error(`could not parse the getters of ${CONFIG_FILE}`);
  return getters;
}

export interface TableNeeds {
  /** DynamoDB actions without the prefix: GetItem, Query... */
  actions: Set<string>;
  indexes: Set<string>;
}

export interface HandlerNeeds {
  env: Set<string>;
  actions: Set<string>;
  /** By the table's env var (FLEET_TABLE...). */
  tables: Map<string, TableNeeds>;
  metrics: Set<string>;
}

/** The argument text of the call whose `(` is at `open` (string and template contents are not parsed). */
function callArgument(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '(' || c === '{' || c === '[') depth++;
    else if (c === ')' || c === '}' || c === ']') {
      depth--;
      if (depth === 0) return text.slice(open + 1, i);
    }
  }
  return text.slice(open + 1);
}

/** The bundle's code per source module (esbuild's `// path` markers; a module may come in several pieces). */
function modules(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let current = '(entry)';
  for (const line of text.split('\n')) {
    const m = /^\/\/ (\S+\.[cm]?[jt]s)$/.exec(line);
    if (m) {
      current = m[1]!;
      continue;
    }
    out.set(current, `${out.get(current) ?? ''}${line}\n`);
  }
  return out;
}

/** A module's top-level functions (esbuild writes them unindented), each with its code up to the next one. */
function topLevelFunctions(code: string): { name: string; code: string }[] {
  const starts = [...code.matchAll(/^(?:export\s+)?(?:async\s+)?function\*?\s+(\w+)\s*\(/gm)];
  return starts.map((m, i) => ({ name: m[1]!, code: code.slice(m.index!, starts[i + 1]?.index ?? code.length) }));
}

const SERVICE_PREFIX: Record<string, string> = {
  'client-dynamodb': 'dynamodb',
  'lib-dynamodb': 'dynamodb',
  'client-sqs': 'sqs',
  'client-sns': 'sns',
  'client-secrets-manager': 'secretsmanager',
  'client-ssm': 'ssm',
  'client-apigatewaymanagementapi': 'execute-api',
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
  // Every @connections call (post, get, delete) is authorised as ManageConnections.
  'client-apigatewaymanagementapi:PostToConnectionCommand': ['ManageConnections'],
  'client-apigatewaymanagementapi:DeleteConnectionCommand': ['ManageConnections'],
  'client-apigatewaymanagementapi:GetConnectionCommand': ['ManageConnections'],
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
    if (new RegExp(`\\.${getter}\\b(?!\\s*\\()`).test(text)) for (const v of vars) env.add(v);
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
    const bindings = m[1]!
      .split(',')
      .map((spec) => spec.trim().split(/\s+as\s+/))
      .filter((x) => x[0]);
    if (from === '@aws-lambda-powertools/idempotency/dynamodb' && bindings.some((b) => used(b[1] ?? b[0]!))) {
      for (const a of IDEMPOTENCY_ACTIONS) actions.add(a);
    }
    const pkg = from.startsWith('@aws-sdk/') ? from.slice('@aws-sdk/'.length) : '';
    const prefix = SERVICE_PREFIX[pkg];
    if (!prefix) continue;
    for (const [imported, local] of bindings) {
      if (!imported!.endsWith('Command') || !used(local ?? imported!)) continue;
      for (const a of SPECIAL_ACTIONS[`${pkg}:${imported}`] ?? [imported!.replace(/Command$/, '')])
        actions.add(`${prefix}:${a}`);
    }
  }
  const tables = tableNeeds(text, getters, importRe, used);
  const metrics = new Set(metricNames.filter((n) => text.includes(`"${n}"`) || text.includes(`'${n}'`)));
  return { env, actions, tables, metrics };
}

function tableNeeds(
  text: string,
  getters: Map<string, string[]>,
  importRe: RegExp,
  used: (binding: string) => boolean,
): Map<string, TableNeeds> {
  // local binding → the DynamoDB command it imports
  const commands = new Map<string, string>();
  for (const m of text.matchAll(importRe)) {
    const pkg = m[2]!.startsWith('@aws-sdk/') ? m[2]!.slice('@aws-sdk/'.length) : '';
    if (SERVICE_PREFIX[pkg] !== 'dynamodb') continue;
    for (const spec of m[1]!.split(',')) {
      const [imported, local] = spec.trim().split(/\s+as\s+/);
      if (imported?.endsWith('Command')) commands.set(local ?? imported, `${pkg}:${imported}`);
    }
  }
  const tableGetters = [...getters].filter(([, vars]) => vars.some((v) => v.endsWith('_TABLE')));
  const out = new Map<string, TableNeeds>();
  const need = (envVar: string) => {
    let n = out.get(envVar);
    if (!n) {
      n = { actions: new Set(), indexes: new Set() };
      out.set(envVar, n);
    }
    return n;
  };
  /** The DynamoDB actions a module's code makes itself (a Query given an IndexName in place counts for the index only). */
  const ownActions = (code: string) => {
    const actions = new Set<string>();
    for (const m of code.matchAll(/\bnew (\w+)\(/g)) {
      const command = commands.get(m[1]!);
      if (!command) continue;
      const [pkg, imported] = command.split(':') as [string, string];
      if (imported === 'QueryCommand' && /\bIndexName\s*:/.test(callArgument(code, m.index! + m[0].length - 1)))
        continue;
      for (const a of SPECIAL_ACTIONS[`${pkg}:${imported}`] ?? [imported.replace(/Command$/, '')]) actions.add(a);
    }
    return actions;
  };
  const tablesNamed = (code: string) =>
    tableGetters
      .filter(([getter]) => new RegExp(`\\.${getter}\\b`).test(code))
      .flatMap(([, vars]) => vars.filter((v) => v.endsWith('_TABLE')));
  const all = modules(text);
  // Helpers that make DynamoDB calls with a request their callers build (conditions.ts' updateIf, the sharded
  // query): their calls count for the tables of the modules that call them. Per function: a module calling only
  // a helper's call-free neighbour (isConditionFailure next to updateIf) makes no call through it.
  const relays = [...all.values()]
    .filter((code) => tablesNamed(code).length === 0 && ownActions(code).size > 0)
    .flatMap((code) => topLevelFunctions(code).map((f) => ({ name: f.name, actions: ownActions(f.code) })))
    .filter((r) => r.actions.size > 0);
  for (const code of all.values()) {
    const named = tablesNamed(code);
    if (named.length === 0) continue;
    const actions = ownActions(code);
    const indexes = [...code.matchAll(/\bIndexName\s*:\s*["'](\w+)["']/g)].map((m) => m[1]!);
    for (const relay of relays.filter((r) => new RegExp(`\\b${r.name}\\(`).test(code))) {
      // A relayed Query from a module that names indexes is one of those index queries.
      for (const a of relay.actions) if (!(a === 'Query' && indexes.length > 0)) actions.add(a);
    }
    for (const envVar of named) {
      const n = need(envVar);
      for (const a of actions) n.actions.add(a);
      for (const i of indexes) n.indexes.add(i);
    }
  }
  // Powertools idempotency's persistence layer makes its calls inside the package, on the idempotency table.
  const idempotency = /import\s*\{([^}]*)\}\s*from\s*["']@aws-lambda-powertools\/idempotency\/dynamodb["']/.exec(text);
  if (
    idempotency &&
    idempotency[1]!.split(',').some((spec) =>
      used(
        spec
          .trim()
          .split(/\s+as\s+/)
          .pop()!,
      ),
    )
  ) {
    for (const a of IDEMPOTENCY_ACTIONS) need('IDEMPOTENCY_TABLE').actions.add(a.replace('dynamodb:', ''));
  }
  return out;
}
