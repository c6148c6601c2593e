/**
 * The CLI's API client: requests are built from the route table (method, path, parameters) and checked against
 * the contract's schemas on the way out (a bad argument never leaves the machine) and on the way back (a
 * response that breaks the contract is an error, not garbage on screen). Transport follows the shared
 * upstream-call policy: timeouts always, retries only for idempotent requests.
 */
import { randomUUID } from 'node:crypto';
import type * as z from 'zod/mini';
import { routes, type OperationId, type RouteDef } from '../contract/routes.js';
import { ErrorBody } from '../contract/common.js';
import { callUpstream, retryAfterMs, UpstreamTimeoutError, type UpstreamPolicy } from '../client/upstream-call.js';
import { isLoopback, type Connection } from './connection.js';
import { apiError, authError, unreachableError, usageError } from './errors.js';
import { signRequest } from './sigv4.js';

export interface CallInput {
  params?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ApiResult<T = unknown> {
  status: number;
  data: T;
  headers: Headers;
  correlationId: string;
}

export interface ApiClientOptions {
  timeoutMs?: number;
  retryMax?: number;
  fetch?: typeof fetch;
  /** For tests: no real sleeping between retries. */
  sleep?: (ms: number) => Promise<void>;
}

const byOperation = new Map<string, RouteDef>(routes.map((r) => [r.operationId, r as RouteDef]));

export function routeFor(operationId: OperationId): RouteDef {
  const r = byOperation.get(operationId);
  if (!r) throw new Error(`unknown operation ${operationId}`);
  return r;
}

function issues(err: z.core.$ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`).join('; ');
}

/** Build the concrete path from the route's template, validating the parameters first. */
export function buildPath(route: RouteDef, params: Record<string, string> = {}): string {
  if (route.pathParams) {
    const parsed = route.pathParams.safeParse(params);
    if (!parsed.success) throw usageError(`invalid argument: ${issues(parsed.error)}`, parsed.error.issues);
  }
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = params[name];
    if (v === undefined) throw usageError(`missing ${name}`);
    return encodeURIComponent(v);
  });
}

export class ApiClient {
  private readonly policy: UpstreamPolicy;
  constructor(
    readonly connection: Connection,
    private readonly opts: ApiClientOptions = {},
  ) {
    this.policy = {
      timeoutMs: opts.timeoutMs ?? 30_000,
      retryMax: opts.retryMax ?? 2,
      retryBackoffMs: 300,
      maxBackoffMs: 5000,
    };
  }

  async call<T = unknown>(operationId: OperationId, input: CallInput = {}): Promise<ApiResult<T>> {
    const route = routeFor(operationId);
    const url = new URL(this.connection.apiUrl + buildPath(route, input.params));
    if (input.query) {
      if (route.query) {
        const parsed = route.query.safeParse(input.query);
        if (!parsed.success) throw usageError(`invalid option: ${issues(parsed.error)}`, parsed.error.issues);
      }
      for (const [k, v] of Object.entries(input.query)) if (v !== undefined) url.searchParams.set(k, String(v));
    }
    let body: string | undefined;
    if (input.body !== undefined) {
      if (route.body) {
        const parsed = route.body.safeParse(input.body);
        if (!parsed.success) throw usageError(`invalid request: ${issues(parsed.error)}`, parsed.error.issues);
      }
      body = JSON.stringify(input.body);
    }
    const correlationId = randomUUID();
    let headers: Record<string, string> = {
      accept: 'application/json',
      'x-correlation-id': correlationId,
      'user-agent': 'fleetmedic-cli/0.1',
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...input.headers,
    };
    headers = await this.authorise(route, url, headers, body);

    const doFetch = this.opts.fetch ?? fetch;
    let res: Response;
    try {
      res = await callUpstream(
        (u, init) => doFetch(u, init),
        {
          url: url.toString(),
          method: route.method,
          headers,
          body,
          idempotent: route.method === 'PUT' || route.method === 'DELETE',
        },
        this.policy,
        this.opts.sleep ? { sleep: this.opts.sleep } : {},
      );
    } catch (err) {
      throw unreachableError(`cannot reach the API at ${this.connection.apiUrl}: ${describeNetworkError(err)}`, {
        correlationId,
      });
    }
    const text = await res.text();
    let json: unknown;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    if (res.status >= 400) throw this.errorFor(route, res, json, text, correlationId);

    const schema = route.responses[res.status];
    if (schema === undefined)
      throw apiError(
        `unexpected status ${res.status} from ${route.method} ${url.pathname}`,
        'unexpected_status',
        res.status,
      );
    if (schema === null) return { status: res.status, data: undefined as T, headers: res.headers, correlationId };
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw apiError(
        `the API's response to ${route.operationId} does not match the contract: ${issues(parsed.error)}`,
        'contract_violation',
        res.status,
      );
    }
    return { status: res.status, data: parsed.data as T, headers: res.headers, correlationId };
  }

  private async authorise(
    route: RouteDef,
    url: URL,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<Record<string, string>> {
    if (route.auth === 'public') return headers;
    const auth = this.connection.auth;
    if (auth.kind === 'bearer') return { ...headers, authorization: `Bearer ${auth.token}` };
    try {
      return await signRequest({ method: route.method, url, headers, body });
    } catch (err) {
      throw authError(
        `cannot sign the request with AWS credentials (SigV4): ${(err as Error).message}. ` +
          (isLoopback(url.toString())
            ? // A loopback API is most likely a local fleet, which has no IAM: say how to find its token.
              `${url.origin} looks like a local fleet, whose operator token is unknown here: run the CLI where \`npm start\` runs, set FLEETMEDIC_LOCAL_DIR to the fleet's --state-dir (it holds local.json), or pass --token.`
            : 'Configure AWS credentials (AWS_PROFILE, aws sso login, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), or pass --token for a bearer-token API.'),
        'no_credentials',
      );
    }
  }

  private errorFor(route: RouteDef, res: Response, json: unknown, text: string, correlationId: string) {
    const parsed = ErrorBody.safeParse(json);
    // API Gateway's own errors are `{"message": ...}` (e.g. IAM's "Forbidden").
    const message = parsed.success
      ? parsed.data.message
      : ((json as { message?: string })?.message ?? (text.slice(0, 200) || res.statusText));
    const code = parsed.success ? parsed.data.error : `http_${res.status}`;
    const details = parsed.success ? parsed.data.details : undefined;
    if (res.status === 401 || res.status === 403) {
      const hint =
        this.connection.auth.kind === 'bearer'
          ? this.connection.source === 'local'
            ? " (the local fleet's token is read from .fleetmedic/local.json; is this the fleet `npm start` is running?)"
            : ' (check --token / FLEETMEDIC_OPERATOR_TOKEN)'
          : ' (check your AWS credentials, e.g. `aws sts get-caller-identity`, and that they may invoke this API)';
      return authError(`${res.status} ${code}: ${message}${hint}`, code, res.status);
    }
    if (code === 'circuit_open') {
      const after = retryAfterMs(res);
      return apiError(
        `${message}${after !== undefined ? ` (retry after ${Math.ceil(after / 1000)} s)` : ''}`,
        code,
        res.status,
        { ...(details as object), retryAfterSeconds: after !== undefined ? Math.ceil(after / 1000) : undefined },
      );
    }
    return apiError(
      `${res.status} ${code}: ${message}`,
      code,
      res.status,
      details ?? { correlationId, operation: route.operationId },
    );
  }
}

function describeNetworkError(err: unknown): string {
  if (err instanceof UpstreamTimeoutError) return `no answer within ${err.timeoutMs} ms`;
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const code = e.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused (is the API running?)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code) return `${code}${e.cause?.message ? ` (${e.cause.message})` : ''}`;
  return e.cause?.message ?? e.message ?? String(err);
}
