/**
 * Who may import whom (docs/architecture.md, "Who may import whom"), read from the source itself:
 * - an adapter (functions/adapters/*.ts) imports no other adapter: composing them is a service's job
 *   (functions/adapters/common/ holds the low-level helpers they share, and is not an adapter);
 * - adapters import no service, handler or HTTP layer; services import no handler;
 * - nothing imports a Lambda entry file (functions/handlers/<name>.ts): a route or service that needs another
 *   function's logic imports the service it lives in;
 * - domain code is pure: no AWS SDK, Powertools, Lambda types or dockerode, and no adapter, service, handler,
 *   HTTP or lib module;
 * - cdk/ and local/ never import each other; both read infra/spec.ts;
 * - the agent reaches the shared code under functions/ only through package.json subpath imports (#contract/*...).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '..', '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Every module specifier a file imports or re-exports (static and dynamic), as written. */
function specifiersOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [
    ...text.matchAll(
      /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?\bfrom\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g,
    ),
  ].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** The same, resolved to a project path when relative or a subpath import. */
function importsOf(file: string): string[] {
  return specifiersOf(file).map((s) => resolveSpecifier(file, s));
}

/** package.json "imports" (`#contract/*` → `./functions/contract/*`): a subpath import is judged like a relative one. */
const SUBPATHS = Object.entries(
  (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { imports?: Record<string, string> }).imports ?? {},
);

function resolveSpecifier(file: string, spec: string): string {
  const toProject = (path: string) => relative(ROOT, path).replace(/\.js$/, '.ts');
  if (spec.startsWith('.')) return toProject(resolve(dirname(file), spec));
  for (const [from, to] of SUBPATHS)
    if (from.endsWith('*') && spec.startsWith(from.slice(0, -1)))
      return toProject(resolve(ROOT, to.replace('*', spec.slice(from.length - 1))));
  return spec;
}

const files = ['functions', 'cdk', 'local', 'infra'].flatMap((d) => sources(join(ROOT, d)));
const graph = files.map((f) => ({ file: relative(ROOT, f), imports: importsOf(f) }));
const inDir = (path: string, dir: string) => path.startsWith(`${dir}/`);
const directChild = (path: string, dir: string) => inDir(path, dir) && !path.slice(dir.length + 1).includes('/');

function violations(from: (file: string) => boolean, to: (target: string, file: string) => boolean): string[] {
  return graph
    .filter((g) => from(g.file))
    .flatMap((g) => g.imports.filter((t) => to(t, g.file)).map((t) => `${g.file} -> ${t}`));
}

test('the scan sees the code it judges', () => {
  assert.ok(graph.filter((g) => directChild(g.file, 'functions/adapters')).length >= 10, 'adapters found');
  assert.ok(
    graph.some((g) => g.imports.includes('functions/adapters/jobs-repo.ts')),
    'relative imports resolved',
  );
  assert.ok(
    graph.some((g) => g.imports.some((i) => i.startsWith('@aws-sdk/'))),
    'package imports read',
  );
});

test('no adapter imports another adapter (the helpers in adapters/common excepted)', () => {
  const found = violations(
    (f) => directChild(f, 'functions/adapters'),
    (t, f) => directChild(t, 'functions/adapters') && t !== f,
  );
  assert.deepEqual(found, []);
});

test('adapters import no service, handler or HTTP module; services import no handler', () => {
  assert.deepEqual(
    violations(
      (f) => inDir(f, 'functions/adapters'),
      (t) => inDir(t, 'functions/services') || inDir(t, 'functions/handlers') || inDir(t, 'functions/http'),
    ),
    [],
  );
  assert.deepEqual(
    violations(
      (f) => inDir(f, 'functions/services'),
      (t) => inDir(t, 'functions/handlers'),
    ),
    [],
  );
});

test('nothing imports a Lambda entry file (no route imports a handler)', () => {
  assert.deepEqual(
    violations(
      () => true,
      (t) => directChild(t, 'functions/handlers'),
    ),
    [],
  );
});

test('domain code imports no AWS SDK, Powertools, Lambda types or dockerode, and no I/O layer', () => {
  const io = ['functions/adapters', 'functions/services', 'functions/handlers', 'functions/http', 'functions/lib'];
  assert.deepEqual(
    violations(
      (f) => inDir(f, 'functions/domain'),
      (t) =>
        /^(@aws-sdk\/|@aws-lambda-powertools\/|@smithy\/|aws-lambda$|dockerode$)/.test(t) ||
        io.some((d) => inDir(t, d)),
    ),
    [],
  );
});

test('cdk/ and local/ never import each other', () => {
  assert.deepEqual(
    violations(
      (f) => inDir(f, 'cdk'),
      (t) => inDir(t, 'local'),
    ),
    [],
  );
  assert.deepEqual(
    violations(
      (f) => inDir(f, 'local'),
      (t) => inDir(t, 'cdk'),
    ),
    [],
  );
});

test('the agent imports shared code under functions/ through subpath imports, never by relative path', () => {
  const agentFiles = sources(join(ROOT, 'agent'));
  assert.ok(agentFiles.length >= 30, 'agent sources found');
  const deep = agentFiles.flatMap((f) =>
    specifiersOf(f)
      .filter((spec) => spec.startsWith('.') && inDir(resolveSpecifier(f, spec), 'functions'))
      .map((spec) => `${relative(ROOT, f)}: ${spec}`),
  );
  assert.deepEqual(deep, []);
  assert.ok(
    agentFiles.some((f) => importsOf(f).includes('functions/contract/report.ts')),
    'subpath imports resolved',
  );
});
