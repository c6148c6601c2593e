/**
 * API Gateway HTTP API (payload format 2.0) translation, both ways, with no I/O:
 * request parts → the event a Lambda receives; the Lambda's result → status, headers, cookies, body.
 * Follows the documented v2 rules so handlers behave here exactly as behind API Gateway.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { LOCAL_ACCOUNT_ID } from './lambda-context.js';

export const LOCAL_API_ID = 'local';

export interface IncomingRequestParts {
  method: string;
  /** Path plus query string as received, e.g. `/v1/devices?limit=5`. */
  url: string;
  /** Node's raw header list: [name, value, name, value, ...] (keeps duplicates). */
  rawHeaders: string[];
  body: Buffer;
  sourceIp: string;
  /** `GET /v1/devices/{deviceId}`, from the route table. */
  routeKey: string;
  pathParameters: Record<string, string>;
  host: string;
  now?: number;
  requestId?: string;
}

/** Content types API Gateway passes as text; anything else arrives base64-encoded. */
function isTextual(contentType: string | undefined): boolean {
  if (!contentType) return true;
  const ct = contentType.toLowerCase();
  return (
    ct.startsWith('text/') ||
    ct.includes('json') ||
    ct.includes('xml') ||
    ct.includes('javascript') ||
    ct.startsWith('application/x-www-form-urlencoded')
  );
}

/** `12/Mar/2020:19:03:58 +0000`, the format of requestContext.time. */
function clfTime(ms: number): string {
  const d = new Date(ms);
  const mon = d.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${mon}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export function splitUrl(url: string): { rawPath: string; rawQueryString: string } {
  const q = url.indexOf('?');
  return q === -1
    ? { rawPath: url, rawQueryString: '' }
    : { rawPath: url.slice(0, q), rawQueryString: url.slice(q + 1) };
}

export function buildHttpApiEvent(req: IncomingRequestParts): APIGatewayProxyEventV2 {
  const now = req.now ?? Date.now();
  const requestId = req.requestId ?? randomUUID();
  const { rawPath, rawQueryString } = splitUrl(req.url);

  // v2: header names lowercased, duplicates joined with commas; cookies move to their own array.
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    const value = req.rawHeaders[i + 1]!;
    if (name === 'cookie') {
      cookies.push(
        ...value
          .split(';')
          .map((c) => c.trim())
          .filter(Boolean),
      );
      continue;
    }
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  headers['x-forwarded-for'] = headers['x-forwarded-for']
    ? `${headers['x-forwarded-for']}, ${req.sourceIp}`
    : req.sourceIp;
  headers['x-forwarded-proto'] ??= 'http';
  headers['x-forwarded-port'] ??= req.host.split(':')[1] ?? '80';
  headers['x-amzn-trace-id'] ??=
    `Root=1-${Math.floor(now / 1000).toString(16)}-${requestId.replace(/-/g, '').slice(0, 24)}`;

  // v2: repeated query parameters are joined with commas.
  let queryStringParameters: Record<string, string> | undefined;
  if (rawQueryString) {
    queryStringParameters = {};
    for (const [k, v] of new URLSearchParams(rawQueryString)) {
      queryStringParameters[k] = k in queryStringParameters ? `${queryStringParameters[k]},${v}` : v;
    }
  }

  const hasBody = req.body.length > 0;
  const textual = isTextual(headers['content-type']);
  const path = safeDecode(rawPath);
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: req.routeKey,
    rawPath,
    rawQueryString,
    ...(cookies.length ? { cookies } : {}),
    headers,
    ...(queryStringParameters ? { queryStringParameters } : {}),
    ...(Object.keys(req.pathParameters).length ? { pathParameters: req.pathParameters } : {}),
    requestContext: {
      accountId: LOCAL_ACCOUNT_ID,
      apiId: LOCAL_API_ID,
      domainName: req.host,
      domainPrefix: req.host.split('.')[0]!.split(':')[0]!,
      http: {
        method: req.method,
        path,
        protocol: 'HTTP/1.1',
        sourceIp: req.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: req.routeKey,
      stage: '$default',
      time: clfTime(now),
      timeEpoch: now,
    },
    ...(hasBody ? { body: textual ? req.body.toString('utf8') : req.body.toString('base64') } : {}),
    isBase64Encoded: hasBody && !textual,
  };
  return event;
}

function safeDecode(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

export interface HttpResponseParts {
  statusCode: number;
  headers: Record<string, string>;
  cookies: string[];
  body: Buffer;
}

/**
 * The v2 response rules: a result with `statusCode` is used as given; anything else (an object, a string)
 * is taken as a 200 JSON body, as API Gateway infers it.
 */
export function toHttpResponse(result: unknown): HttpResponseParts {
  if (result && typeof result === 'object' && 'statusCode' in result) {
    const r = result as APIGatewayProxyStructuredResultV2;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = String(v);
    const raw = r.body ?? '';
    const body = r.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
    return { statusCode: Number(r.statusCode), headers, cookies: r.cookies ?? [], body };
  }
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    cookies: [],
    body: Buffer.from(JSON.stringify(result ?? null), 'utf8'),
  };
}

/** The gateway's own error answers, in the project's error shape (`{error, message, details}`). */
export function gatewayError(statusCode: number, error: string, message: string, details?: unknown): HttpResponseParts {
  return {
    statusCode,
    headers: { 'content-type': 'application/json' },
    cookies: [],
    body: Buffer.from(JSON.stringify({ error, message, ...(details === undefined ? {} : { details }) })),
  };
}
