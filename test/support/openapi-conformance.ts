/**
 * Every answer the API tests get is checked against the published document (docs/openapi.json) with a
 * third-party JSON Schema validator (Ajv, draft 2020-12 as OpenAPI 3.1 uses): the status must be one the
 * operation documents, and a JSON body must match the schema documented for that status. A document that
 * does not say what the API does fails the test that met the difference, not a client in the field.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Ajv2020, ValidateFunction } from 'ajv/dist/2020.js';
import { matchRoute } from '../../functions/contract/routes.js';

const DOC_ID = 'https://fleetmedic.invalid/openapi.json';
const docPath = fileURLToPath(new URL('../../docs/openapi.json', import.meta.url));

type Operation = { responses: Record<string, { content?: Record<string, unknown> }> };
let doc: { paths: Record<string, Record<string, Operation>> } | undefined;
let ajv: Ajv2020 | undefined;
const validators = new Map<string, ValidateFunction>();

async function load() {
  if (!doc) {
    // Loaded on first use with a clear message: a worktree whose node_modules predates these devDependencies
    // should say what to do, not fail with a bare module-resolution error in every API test.
    const [ajvModule, formatsModule] = await Promise.all([import('ajv/dist/2020.js'), import('ajv-formats')]).catch(
      (err: Error) => {
        throw new Error(
          `the OpenAPI conformance check needs the devDependencies ajv and ajv-formats: run \`npm install\` (${err.message})`,
        );
      },
    );
    const parsed = JSON.parse(readFileSync(docPath, 'utf8'));
    // strict off: the document is an OpenAPI document, not a schema; only the pointers into it are compiled.
    const instance = new ajvModule.Ajv2020({ strict: false, allErrors: true });
    const addFormats = ((formatsModule as { default?: unknown }).default ?? formatsModule) as
      | { default?: unknown }
      | ((a: Ajv2020) => void);
    (typeof addFormats === 'function' ? addFormats : (addFormats.default as (a: Ajv2020) => void))(instance);
    // zod writes `format: starts_with` beside the `pattern` that does the checking: an annotation only.
    instance.addFormat('starts_with', true);
    instance.addSchema(parsed as object, DOC_ID);
    ajv = instance;
    doc = parsed;
  }
  return { doc: doc!, ajv: ajv! };
}

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/** Throws when the answer is not what the document says the operation answers. Unknown paths are not checked. */
export async function assertDocumented(
  method: string,
  path: string,
  status: number,
  headers: Record<string, string>,
  body: unknown,
  raw: string | undefined,
): Promise<void> {
  let match: ReturnType<typeof matchRoute>;
  try {
    match = matchRoute(method, path);
  } catch {
    return; // a path the router cannot even decode has no operation to compare with
  }
  if (!match) return;
  const { doc, ajv } = await load();
  const routePath = 'route' in match ? match.route.path : findPath(doc, path);
  if (!routePath) return;
  const item = doc.paths[routePath];
  if (!item) throw new Error(`openapi: ${routePath} is not in docs/openapi.json`);
  // A method the path does not serve (405): every operation of the path documents it.
  const opMethod = 'route' in match ? match.route.method.toLowerCase() : Object.keys(item)[0]!;
  const op = item[opMethod];
  if (!op) throw new Error(`openapi: ${method} ${routePath} is not documented`);
  const documented = op.responses[String(status)];
  if (!documented)
    throw new Error(
      `openapi: ${opMethod.toUpperCase()} ${routePath} answered ${status}, which the document does not list (${Object.keys(op.responses).join(', ')})`,
    );
  if (!documented.content) {
    if (raw)
      throw new Error(
        `openapi: ${opMethod.toUpperCase()} ${routePath} ${status} has a body the document does not describe`,
      );
    return;
  }
  if (!/^application\/json\b/.test(headers['content-type'] ?? ''))
    throw new Error(
      `openapi: ${opMethod.toUpperCase()} ${routePath} ${status} is not JSON (content-type ${headers['content-type']})`,
    );
  const ref = `${DOC_ID}#/${pointer('paths', routePath, opMethod, 'responses', String(status), 'content', 'application/json', 'schema')}`;
  let validate = validators.get(ref);
  if (!validate) {
    validate = ajv.compile({ $ref: ref });
    validators.set(ref, validate);
  }
  if (!validate(body)) {
    throw new Error(
      `openapi: ${opMethod.toUpperCase()} ${routePath} ${status} body does not match the document: ${ajv.errorsText(validate.errors)}\n${raw?.slice(0, 500)}`,
    );
  }
}

function findPath(d: { paths: Record<string, unknown> }, path: string): string | undefined {
  const segments = path.split('/').filter(Boolean);
  return Object.keys(d.paths).find((p) => {
    const parts = p.split('/').filter(Boolean);
    return parts.length === segments.length && parts.every((part, i) => part.startsWith('{') || part === segments[i]);
  });
}
