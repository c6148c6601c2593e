/**
 * Resolves the route from the route table: by `event.routeKey` (what API Gateway sends for a declared
 * route), falling back to method + path matching (for a `$default` catch-all). A route served by another
 * function, or no route at all, is 404; a known path with another method is 405 with `Allow`.
 */
import { matchRoute, routesByKey, type RouteDef, type RouteFunction } from '../contract/routes.js';
import { httpError } from './errors.js';
import type { ApiMiddleware } from './middleware.js';

export function router(fn: RouteFunction): ApiMiddleware {
  return {
    name: 'router',
    before: (request) => {
      const { event } = request;
      const method = (event.requestContext?.http?.method ?? '').toUpperCase();
      const path = event.rawPath ?? event.requestContext?.http?.path ?? '';
      let route: RouteDef | undefined = routesByKey.get(event.routeKey);
      let params: Record<string, string> = { ...(event.pathParameters ?? {}) } as Record<string, string>;
      if (!route) {
        let match: ReturnType<typeof matchRoute> = null;
        try {
          match = matchRoute(method, path);
        } catch {
          throw httpError('bad_request', 'Malformed request path');
        }
        if (match && 'allowed' in match) {
          const allowed = match.allowed.join(', ');
          throw httpError(
            'method_not_allowed',
            `Method ${method} is not allowed on ${path}`,
            { allowed: match.allowed },
            { allow: allowed },
          );
        }
        if (match) {
          route = match.route;
          params = { ...match.pathParameters, ...params };
        }
      }
      if (!route || route.fn !== fn) throw httpError('not_found', `No route ${method} ${path}`, { method, path });
      request.context.api.route = route;
      request.context.api.params = params;
    },
  };
}
