import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { OPENAPI_PATH, buildOpenApi, renderOpenApi } from '../../../functions/contract/openapi.js';
import { routes } from '../../../functions/contract/routes.js';

test('docs/openapi.json is generated from the zod contract (run `npm run openapi` after changing it)', () => {
  const onDisk = readFileSync(OPENAPI_PATH, 'utf8');
  assert.equal(onDisk, renderOpenApi(), 'docs/openapi.json is out of date: run `npm run openapi`');
});

test('every route in the table appears in the document with its operationId', () => {
  const doc = buildOpenApi() as { paths: Record<string, Record<string, { operationId: string }>> };
  for (const r of routes) assert.equal(doc.paths[r.path]?.[r.method.toLowerCase()]?.operationId, r.operationId);
});

test('every $ref in the document resolves inside it (tools reject dangling refs)', () => {
  const doc = buildOpenApi();
  const refs = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        if (k === '$ref' && typeof child === 'string') refs.add(child);
        else walk(child);
      }
    }
  };
  walk(doc);
  assert.ok(refs.size > 0, 'the document uses $refs');
  const resolve = (ref: string): unknown =>
    ref
      .replace(/^#\//, '')
      .split('/')
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined), doc);
  const dangling = [...refs].filter((r) => !r.startsWith('#/') || resolve(r) === undefined);
  assert.deepEqual(dangling, [], 'refs that point nowhere in docs/openapi.json');
});
