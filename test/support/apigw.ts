/**
 * Calling the real API Lambda handlers in tests: builds API Gateway HTTP API (payload v2) events the way
 * API Gateway does (lowercased headers, routeKey from the route table, path parameters, query string) and
 * parses the structured result back.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { matchRoute, routeKey } from '../../functions/contract/routes.js';
import { lambdaContext } from '../../local/lambda-context.js';
import { assertDocumented } from './openapi-conformance.js';

export interface ApiCall {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** Serialised as JSON unless a string (sent verbatim, e.g. malformed JSON). */
  body?: unknown;
  /** Bearer token for Authorization. */
  token?: string;
  /** Simulate API Gateway's IAM authorizer context. */
  iam?: { userArn: string };
  base64?: boolean;
  /** Override the routeKey (default: from the route table, `$default` when nothing matches). */
  routeKey?: string;
}

export function apiEvent(call: ApiCall): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(call.headers ?? {})) headers[k.toLowerCase()] = v;
  if (call.token !== undefined) headers.authorization = `Bearer ${call.token}`;
  let body: string | undefined;
  if (call.body !== undefined) {
    body = typeof call.body === 'string' ? call.body : JSON.stringify(call.body);
    headers['content-type'] ??= 'application/json';
  }
  const match = matchRoute(call.method, call.path);
  const matched = match && 'route' in match ? match : undefined;
  const rawQueryString = new URLSearchParams(call.query ?? {}).toString();
  const now = Date.now();
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: call.routeKey ?? (matched ? routeKey(matched.route) : '$default'),
    rawPath: call.path,
    rawQueryString,
    headers,
    requestContext: {
      accountId: '123456789012',
      apiId: 'test',
      domainName: 'test.local',
      domainPrefix: 'test',
      http: { method: call.method, path: call.path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'tests' },
      requestId: randomUUID(),
      routeKey: call.routeKey ?? (matched ? routeKey(matched.route) : '$default'),
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    isBase64Encoded: !!call.base64,
  };
  if (call.iam)
    (event.requestContext as unknown as Record<string, unknown>).authorizer = {
      iam: {
        accessKey: 'AKIA',
        accountId: '123456789012',
        callerId: 'AIDA',
        userArn: call.iam.userArn,
        userId: 'AIDA',
        cognitoIdentity: null,
        principalOrgId: null,
      },
    };
  if (matched && Object.keys(matched.pathParameters).length) event.pathParameters = matched.pathParameters;
  if (call.query && Object.keys(call.query).length) event.queryStringParameters = call.query;
  if (body !== undefined) event.body = call.base64 ? Buffer.from(body).toString('base64') : body;
  return event;
}

export interface ApiAnswer<T = any> {
  status: number;
  headers: Record<string, string>;
  body: T;
  raw: string | undefined;
}

type Handler = (event: APIGatewayProxyEventV2, context: any) => Promise<APIGatewayProxyStructuredResultV2 | unknown>;

export async function invoke<T = any>(handler: Handler, call: ApiCall): Promise<ApiAnswer<T>> {
  const res = (await handler(apiEvent(call), lambdaContext('test-api', 30_000))) as APIGatewayProxyStructuredResultV2;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers ?? {})) headers[k.toLowerCase()] = String(v);
  const raw = typeof res.body === 'string' ? res.body : undefined;
  let body: unknown;
  if (raw) {
    try {
      body = JSON.parse(raw);
    } catch {
      body = raw;
    }
  }
  const status = res.statusCode ?? 200;
  // A test may pin a routeKey the path does not match (API Gateway quirks): there is no one operation to compare with.
  if (!call.routeKey) await assertDocumented(call.method, call.path, status, headers, body, raw);
  return { status, headers, body: body as T, raw };
}
