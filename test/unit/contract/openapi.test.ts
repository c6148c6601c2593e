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
