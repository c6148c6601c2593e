/**
 * zod validation of path parameters, query string and body against the route table's schemas.
 * All problems are reported at once, each with where it is (`path`/`query`/`body`), the field path and why.
 */
import type * as z from 'zod';
import { httpError } from './errors.js';
import type { ApiMiddleware } from './middleware.js';

export interface ValidationIssue {
  in: 'path' | 'query' | 'body';
  path: string;
  code: string;
  message: string;
}

function issuesOf(where: ValidationIssue['in'], error: z.ZodError): ValidationIssue[] {
  return error.issues.slice(0, 50).map((i) => ({ in: where, path: i.path.map(String).join('.'), code: i.code, message: i.message }));
}

export function validate(): ApiMiddleware {
  return {
    name: 'validate',
    before: (request) => {
      const api = request.context.api;
      const route = api.route!;
      const issues: ValidationIssue[] = [];
      if (route.pathParams) {
        const r = route.pathParams.safeParse(api.params);
        if (r.success) api.params = r.data as Record<string, unknown>;
        else issues.push(...issuesOf('path', r.error));
      }
      const rawQuery = request.event.queryStringParameters ?? {};
      if (route.query) {
        const r = route.query.safeParse(rawQuery);
        if (r.success) api.query = r.data as Record<string, unknown>;
        else issues.push(...issuesOf('query', r.error));
      }
      if (route.body) {
        const r = route.body.safeParse(api.json);
        if (r.success) api.body = r.data;
        else issues.push(...issuesOf('body', r.error));
      }
      if (issues.length) throw httpError('validation_failed', `Invalid request: ${issues.map((i) => `${i.in}${i.path ? `.${i.path}` : ''}: ${i.message}`).slice(0, 3).join('; ')}`, { issues });
    },
  };
}
