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
      .reduce<unknown>(
        (node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined),
        doc,
      );
  const dangling = [...refs].filter((r) => !r.startsWith('#/') || resolve(r) === undefined);
  assert.deepEqual(dangling, [], 'refs that point nowhere in docs/openapi.json');
});

test('the document is a valid OpenAPI 3.1 document (third-party validator, refs resolved)', async () => {
  const { Validator } = await import('@seriousme/openapi-schema-validator');
  const validator = new Validator();
  const result = await validator.validate(JSON.parse(readFileSync(OPENAPI_PATH, 'utf8')));
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
  assert.equal(validator.version, '3.1');
});

type Doc = {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters: { name: string; in: string }[];
        requestBody?: { content: Record<string, { schema: { $ref?: string } }> };
        responses: Record<string, unknown>;
      }
    >
  >;
  components: { schemas: Record<string, { required?: string[]; description?: string }> };
};

test('request bodies are shown from the input side: a field with a default is not required', () => {
  const doc = buildOpenApi() as Doc;
  const put = doc.paths['/v1/devices/{deviceId}/target']!.put!;
  const ref = put.requestBody!.content['application/json']!.schema.$ref!;
  const target = doc.components.schemas[ref.split('/').pop()!]!;
  assert.deepEqual(target.required, ['services'], 'rollbackWindowSeconds has a default');
  const specRef = JSON.stringify(target).match(/"#\/components\/schemas\/(ServiceSpec\w*)"/)![1]!;
  const spec = doc.components.schemas[specRef]!;
  for (const field of ['env', 'ports', 'volumes', 'restartPolicy', 'dependsOn'])
    assert.ok(!spec.required?.includes(field), `${specRef}.${field} has a default`);
  // The response shows the stored document, where the defaults are filled in.
  assert.deepEqual(doc.components.schemas.TargetState!.required, ['services', 'rollbackWindowSeconds']);
});

test('every operation documents every status the middlewares can answer', () => {
  const doc = buildOpenApi() as Doc;
  for (const r of routes) {
    const op = doc.paths[r.path]![r.method.toLowerCase()]!;
    const statuses = Object.keys(op.responses);
    for (const s of ['400', '404', '405', '413', '500'])
      assert.ok(statuses.includes(s), `${r.operationId} documents ${s}`);
    if (r.auth !== 'public')
      for (const s of ['401', '403']) assert.ok(statuses.includes(s), `${r.operationId} documents ${s}`);
    if ('body' in r && r.body) assert.ok(statuses.includes('415'), `${r.operationId} documents 415`);
  }
  const put = doc.paths['/v1/devices/{deviceId}/target']!.put!;
  assert.ok(Object.keys(put.responses).includes('412'));
  assert.ok(put.parameters.some((p) => p.in === 'header' && p.name === 'If-Match'));
});

test('rules across fields are described in the document', () => {
  const doc = buildOpenApi() as Doc;
  assert.match(doc.components.schemas.DeviceReport!.description ?? '', /removedServices/);
  assert.match(doc.components.schemas.DeviceReport!.description ?? '', /unique/);
  assert.match(doc.components.schemas.TargetStateInput!.description ?? '', /dependsOn/);
  assert.match(doc.components.schemas.TargetStateInput!.description ?? '', /cycle/);
});
