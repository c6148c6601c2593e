/**
 * Validation of path parameters, query string and body against the route table's zod schemas, through
 * Powertools' parser (lib/validation.ts says why there and not the parser's built-in API Gateway schemas).
 * All problems are reported at once, each with where it is (`path`/`query`/`body`), the field path and why.
 */
import { safeParse, type Issue } from '../lib/validation.js';
import { httpError } from './errors.js';
import type { ApiMiddleware } from './middleware.js';

export interface ValidationIssue {
  in: 'path' | 'query' | 'body';
  path: string;
  code: string;
  message: string;
}

function issuesOf(where: ValidationIssue['in'], issues: readonly Issue[]): ValidationIssue[] {
  return issues
    .slice(0, 50)
    .map((i) => ({ in: where, path: i.path.map(String).join('.'), code: i.code, message: i.message }));
}

export function validate(): ApiMiddleware {
  return {
    name: 'validate',
    before: (request) => {
      const api = request.context.api;
      const route = api.route!;
      const issues: ValidationIssue[] = [];
      if (route.pathParams) {
        const r = safeParse(route.pathParams, api.params);
        if (r.success) api.params = r.data as Record<string, unknown>;
        else issues.push(...issuesOf('path', r.issues));
      }
      const rawQuery = request.event.queryStringParameters ?? {};
      if (route.query) {
        const r = safeParse(route.query, rawQuery);
        if (r.success) api.query = r.data as Record<string, unknown>;
        else issues.push(...issuesOf('query', r.issues));
      }
      if (route.body) {
        const r = safeParse(route.body, api.json);
        if (r.success) api.body = r.data;
        else issues.push(...issuesOf('body', r.issues));
      }
      if (issues.length)
        throw httpError(
          'validation_failed',
          `Invalid request: ${issues
            .map((i) => `${i.in}${i.path ? `.${i.path}` : ''}: ${i.message}`)
            .slice(0, 3)
            .join('; ')}`,
          { issues },
        );
    },
  };
}
