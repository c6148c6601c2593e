/**
 * Authentication per route (route.auth: device | operator | public). Each Lambda passes only the authenticator
 * it needs (device-api: devices; operator-api: operators), so neither bundles the other's code or clients.
 * Runs before the body is parsed, so unauthenticated callers learn nothing about validation.
 */
import type { ApiMiddleware } from './middleware.js';
import type { ApiEvent, Principal } from './types.js';

export interface Authenticators {
  device?: (event: ApiEvent, pathDeviceId: string | undefined) => Promise<Principal>;
  operator?: (event: ApiEvent) => Promise<Principal>;
}

export function auth(authenticators: Authenticators): ApiMiddleware {
  return {
    name: 'auth',
    before: async (request) => {
      const api = request.context.api;
      const kind = api.route!.auth;
      if (kind === 'public') return;
      const authenticate = authenticators[kind];
      // A route table entry served by a function that was not given its authenticator: a wiring bug, never open.
      if (!authenticate) throw new Error(`no ${kind} authenticator configured for ${api.route!.operationId}`);
      api.principal = await authenticate(
        request.event,
        request.event.pathParameters?.deviceId ?? (api.params.deviceId as string | undefined),
      );
    },
  };
}
