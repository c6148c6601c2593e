/**
 * Generates the OpenAPI 3.1 document from the zod schemas and the route table.
 * `npm run openapi` rewrites docs/openapi.json; a test fails when the file is out of date.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as z from 'zod/mini';
import { ErrorBody } from './common.js';
import { routes, type RouteDef } from './routes.js';

export const OPENAPI_PATH = fileURLToPath(new URL('../../docs/openapi.json', import.meta.url));
const API_VERSION = '1.0.0';

type JsonSchema = Record<string, unknown>;

/**
 * Which statuses a route can answer, beyond the ones its own module returns: the middlewares every request
 * goes through (functions/http/api-handler.ts) answer them whatever the route does.
 */
function statusesOf(route: RouteDef): Record<number, z.ZodMiniType | null> {
  const out: Record<number, z.ZodMiniType | null> = { ...route.responses };
  const add = (status: number) => {
    out[status] ??= ErrorBody;
  };
  // router: another method on a known path (405 + Allow); body-limit: any body over the limit, GET included (413);
  // error handler: anything unexpected (500).
  for (const status of [400, 404, 405, 413, 500]) add(status);
  if (route.auth !== 'public') [401, 403].forEach(add);
  if (route.body) add(415);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => Number(a) - Number(b)));
}

type Io = 'input' | 'output';
type Converted = JsonSchema & { $defs?: Record<string, JsonSchema> };

export function buildOpenApi(): Record<string, unknown> {
  const convert = (schema: z.ZodMiniType, io: Io): Converted => {
    const params = { target: 'draft-2020-12', io, unrepresentable: 'any', reused: 'inline' };
    return z.toJSONSchema(schema, params as Parameters<typeof z.toJSONSchema>[1]) as Converted;
  };

  // Every schema the document shows, with the side it is shown from: requests (body, parameters) from the input
  // side (a field with a default is optional there), responses from the output side (the default is filled in).
  const uses: { schema: z.ZodMiniType; io: Io }[] = [];
  for (const route of routes as readonly RouteDef[]) {
    for (const obj of [route.pathParams, route.query])
      for (const field of Object.values(obj?.shape ?? {})) uses.push({ schema: field as z.ZodMiniType, io: 'input' });
    if (route.body) uses.push({ schema: route.body, io: 'input' });
    for (const schema of Object.values(statusesOf(route))) if (schema) uses.push({ schema, io: 'output' });
  }
  // A named schema whose input side differs from its output side (directly, or through a schema it refers to)
  // gets a second component, `<id>Input`; the others are shared by requests and responses.
  const defs: Record<Io, Map<string, JsonSchema>> = { input: new Map(), output: new Map() };
  const shownAsOutput = new Set<string>();
  const converted = uses.map(({ schema, io }) => {
    const result = convert(schema, io);
    for (const [id, def] of Object.entries(result.$defs ?? {})) {
      defs[io].set(id, def);
      if (io === 'output') shownAsOutput.add(id);
    }
    return { io, result };
  });
  for (const io of ['input', 'output'] as const)
    for (const { schema } of uses) {
      // a named schema used only on one side still needs its other side for the comparison
      const id = z.globalRegistry.get(schema)?.id;
      if (typeof id === 'string' && !defs[io].has(id))
        for (const [k, v] of Object.entries(convert(schema, io).$defs ?? {})) defs[io].set(k, v);
    }
  const refsOf = (def: JsonSchema | undefined) =>
    [...JSON.stringify(def ?? {}).matchAll(/"#\/\$defs\/([^"]+)"/g)].map((m) => m[1]!);
  const differs = new Set<string>();
  for (const id of defs.input.keys())
    if (JSON.stringify(defs.input.get(id)) !== JSON.stringify(defs.output.get(id))) differs.add(id);
  for (let changed = true; changed; ) {
    changed = false;
    for (const id of defs.input.keys()) {
      if (!differs.has(id) && refsOf(defs.input.get(id)).some((r) => differs.has(r))) {
        differs.add(id);
        changed = true;
      }
    }
  }
  // Only when the output side is in the document too: a request-only schema keeps its plain name.
  const nameOf = (id: string, io: Io) =>
    io === 'input' && differs.has(id) && shownAsOutput.has(id) ? `${id}Input` : id;
  const pointAt = (node: unknown, io: Io): unknown => {
    if (Array.isArray(node)) return node.map((n) => pointAt(n, io));
    if (!node || typeof node !== 'object') return node;
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [
        k,
        k === '$ref' && typeof v === 'string'
          ? v.replace(/^#\/\$defs\/(.+)$/, (_m, id: string) => `#/components/schemas/${nameOf(id, io)}`)
          : pointAt(v, io),
      ]),
    );
  };
  const components: Record<string, JsonSchema> = {};
  const schemaFor = new Map<string, JsonSchema>();
  for (const [i, { io, result }] of converted.entries()) {
    for (const [id, def] of Object.entries(result.$defs ?? {}))
      components[nameOf(id, io)] ??= pointAt(def, io) as JsonSchema;
    const { $defs: _defs, $schema: _schema, ...rest } = result;
    schemaFor.set(`${i}`, pointAt(rest, io) as JsonSchema);
  }
  let next = 0;
  const toSchema = () => schemaFor.get(`${next++}`)!;

  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes as readonly RouteDef[]) {
    const parameters: unknown[] = [];
    for (const [where, obj] of [
      ['path', route.pathParams],
      ['query', route.query],
    ] as const) {
      if (!obj) continue;
      for (const [name, field] of Object.entries(obj.shape)) {
        parameters.push({
          name,
          in: where,
          required: where === 'path' || !(field as z.ZodMiniType).safeParse(undefined).success,
          schema: toSchema(),
        });
      }
    }
    for (const h of route.headers ?? [])
      parameters.push({
        name: h.name,
        in: 'header',
        required: false,
        description: h.description,
        schema: { type: 'string' },
      });
    const requestBody = route.body
      ? {
          required: true,
          description: `At most ${route.maxBodyBytes ?? 16 * 1024} bytes.`,
          content: { 'application/json': { schema: toSchema() } },
        }
      : undefined;
    const responses: Record<string, unknown> = {};
    for (const [status, schema] of Object.entries(statusesOf(route))) {
      const description = describeStatus(Number(status), route);
      responses[status] = schema
        ? { description, content: { 'application/json': { schema: toSchema() } } }
        : { description };
    }
    const op: Record<string, unknown> = {
      operationId: route.operationId,
      summary: route.summary,
      tags: [route.auth === 'device' ? 'device' : route.auth === 'operator' ? 'operator' : 'public'],
      security:
        route.auth === 'device'
          ? [{ deviceToken: [] }]
          : route.auth === 'operator'
            ? [{ operatorIam: [] }, { operatorBearer: [] }]
            : [],
      parameters,
      ...(requestBody ? { requestBody } : {}),
      responses,
    };
    paths[route.path] ??= {};
    const pathItem = paths[route.path] as Record<string, unknown>;
    pathItem[route.method.toLowerCase()] = op;
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Fleetmedic control plane',
      version: API_VERSION,
      description:
        'Device⇄cloud contract and operator API. Generated from functions/contract by `npm run openapi`; do not edit.',
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

export const renderOpenApi = () => `${JSON.stringify(buildOpenApi(), null, 2)}\n`;

function describeStatus(status: number, route: RouteDef): string {
  const text: Record<number, string> = {
    200: 'OK',
    201: 'Created',
    202: 'Accepted',
    204: 'No content',
    304: 'Not modified (ETag matched)',
    400: 'Malformed or invalid input (path, query or body); nothing was written',
    401: 'Missing or wrong credentials',
    403: 'Not yours',
    404: 'Not found: the resource does not exist, or no route serves this path',
    405: 'Method not allowed on this path; the Allow header lists the methods it serves',
    409: 'Conflict (stale version or sequence, or final state)',
    412: 'Precondition failed: If-Match names a version that is no longer current; nothing was written',
    413: `Body too large (this route accepts at most ${route.maxBodyBytes ?? 16 * 1024} bytes; a body on a route without one counts too)`,
    415: 'Content-Type is not application/json',
    500:
      'Internal error: `internal_error` (the body carries the correlation id to quote), or `unreadable_item`: an item ' +
      'this request needs is stored in a shape that cannot be read; `details` names it ({id, item, reason}) and ' +
      'retrying does not help (docs/runbook.md#unreadable-items)',
    503: 'Circuit open; see Retry-After',
  };
  return text[status] ?? String(status);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  writeFileSync(OPENAPI_PATH, renderOpenApi());
  console.log(`wrote ${OPENAPI_PATH}`);
}
