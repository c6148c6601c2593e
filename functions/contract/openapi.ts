/**
 * Generates the OpenAPI 3.1 document from the zod schemas and the route table.
 * `npm run openapi` rewrites docs/openapi.json; a test fails when the file is out of date.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as z from 'zod/mini';
import { routes, type RouteDef } from './routes.js';

export const OPENAPI_PATH = fileURLToPath(new URL('../../docs/openapi.json', import.meta.url));
const API_VERSION = '1.0.0';

type JsonSchema = Record<string, unknown>;

export function buildOpenApi(): Record<string, unknown> {
  const components: Record<string, JsonSchema> = {};
  const toSchema = (schema: z.ZodMiniType, io: 'input' | 'output'): JsonSchema => {
    // Named schemas (registered in z.globalRegistry with an id) become $refs into components.
    // `uri` works for single schemas at runtime but is typed only for registries.
    const params = { target: 'draft-2020-12', io, unrepresentable: 'any', reused: 'inline', uri: (id: string) => `#/components/schemas/${id}` };
    const result = pointDefsAtComponents(z.toJSONSchema(schema, params as Parameters<typeof z.toJSONSchema>[1])) as JsonSchema & { $defs?: Record<string, JsonSchema> };
    for (const [id, def] of Object.entries(result.$defs ?? {})) components[id] ??= def;
    const { $defs: _defs, $schema: _schema, ...rest } = result;
    const id = z.globalRegistry.get(schema)?.id;
    if (typeof id === 'string') {
      components[id] ??= rest;
      return { $ref: `#/components/schemas/${id}` };
    }
    return rest;
  };

  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes as readonly RouteDef[]) {
    const parameters: unknown[] = [];
    for (const [where, obj] of [['path', route.pathParams], ['query', route.query]] as const) {
      if (!obj) continue;
      for (const [name, field] of Object.entries(obj.shape)) {
        parameters.push({ name, in: where, required: where === 'path' || !(field as z.ZodMiniType).safeParse(undefined).success, schema: toSchema(field as z.ZodMiniType, 'input') });
      }
    }
    if (route.operationId === 'getTargetState') parameters.push({ name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' } });
    const responses: Record<string, unknown> = {};
    for (const [status, schema] of Object.entries(route.responses)) {
      responses[status] = schema
        ? { description: describeStatus(Number(status)), content: { 'application/json': { schema: toSchema(schema, 'output') } } }
        : { description: describeStatus(Number(status)) };
    }
    const op: Record<string, unknown> = {
      operationId: route.operationId,
      summary: route.summary,
      tags: [route.auth === 'device' ? 'device' : route.auth === 'operator' ? 'operator' : 'public'],
      security: route.auth === 'device' ? [{ deviceToken: [] }] : route.auth === 'operator' ? [{ operatorIam: [] }, { operatorBearer: [] }] : [],
      parameters,
      responses,
    };
    if (route.body) {
      op.requestBody = {
        required: true,
        description: `At most ${route.maxBodyBytes ?? 16 * 1024} bytes.`,
        content: { 'application/json': { schema: toSchema(route.body, 'input') } },
      };
    }
    (paths[route.path] ??= {})[route.method.toLowerCase()] = op;
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Fleetmedic control plane',
      version: API_VERSION,
      description: 'Device⇄cloud contract and operator API. Generated from functions/contract by `npm run openapi`; do not edit.',
    },
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b))),
      securitySchemes: {
        deviceToken: { type: 'http', scheme: 'bearer', description: 'The device token returned once at registration.' },
        operatorIam: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'AWS SigV4 (IAM) in AWS.' },
        operatorBearer: { type: 'http', scheme: 'bearer', description: 'Operator token from a secret, in local mode.' },
      },
    },
  };
}

/**
 * zod writes references between named schemas inside one conversion as `#/$defs/<id>`; those $defs are hoisted
 * into components.schemas here, so the references must point there too (a `#/$defs/...` ref dangles in an
 * OpenAPI document and code generators reject it).
 */
function pointDefsAtComponents(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(pointDefsAtComponents);
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' ? v.replace(/^#\/\$defs\//, '#/components/schemas/') : pointDefsAtComponents(v)]),
  );
}

export const renderOpenApi = () => `${JSON.stringify(buildOpenApi(), null, 2)}\n`;

function describeStatus(status: number): string {
  const text: Record<number, string> = {
    200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No content', 304: 'Not modified (ETag matched)',
    400: 'Malformed or invalid input', 401: 'Missing or wrong credentials', 403: 'Not yours', 404: 'Not found',
    409: 'Conflict (stale version or sequence, or final state)', 413: 'Body too large', 503: 'Circuit open; see Retry-After',
  };
  return text[status] ?? String(status);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  writeFileSync(OPENAPI_PATH, renderOpenApi());
  console.log(`wrote ${OPENAPI_PATH}`);
}
