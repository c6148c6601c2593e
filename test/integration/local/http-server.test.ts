import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { request } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { startApiServer, type AccessLogEntry, type ApiServer } from '../../../local/http-server.js';
import { handlersFromDirectory } from '../../../local/handlers.js';

const fixtures = join(import.meta.dirname, '..', '..', 'fixtures', 'local-handlers');

describe('local API gateway (HTTP API payload v2)', () => {
  let api: ApiServer;
  const access: AccessLogEntry[] = [];
  before(async () => {
    api = await startApiServer({
      resolve: handlersFromDirectory(fixtures),
      timeoutMs: 300,
      maxBodyBytes: 1024,
      onAccess: (e) => access.push(e),
    });
  });
  after(() => api.close());

  const echo = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${api.url}${path}`, init);
    const json = (await res.json()) as {
      event: APIGatewayProxyEventV2;
      context: { functionName: string; awsRequestId: string; remaining: number };
    };
    return { res, ...json };
  };

  test('a matched route becomes a v2 event and the structured response comes back', async () => {
    const body = JSON.stringify({ deviceId: 'pump-1' });
    const { res, event, context } = await echo('/v1/devices?limit=5&tag=a&tag=b', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-Correlation-Id': 'corr-1',
        Cookie: 'x=1; y=2',
        'User-Agent': 'unit/1',
      },
      body,
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-echo'), 'yes');
    assert.deepEqual(res.headers.getSetCookie(), ['a=1; Path=/', 'b=2; HttpOnly']);
    assert.ok(res.headers.get('apigw-requestid'));

    assert.equal(event.version, '2.0');
    assert.equal(event.routeKey, 'POST /v1/devices');
    assert.equal(event.rawPath, '/v1/devices');
    assert.equal(event.rawQueryString, 'limit=5&tag=a&tag=b');
    assert.deepEqual(event.queryStringParameters, { limit: '5', tag: 'a,b' });
    assert.equal(event.pathParameters, undefined);
    assert.equal(event.headers['x-correlation-id'], 'corr-1', 'header names are lowercased');
    assert.equal(event.headers['content-type'], 'application/json');
    assert.equal(event.headers.cookie, undefined, 'cookies move out of the headers');
    assert.deepEqual(event.cookies, ['x=1', 'y=2']);
    assert.equal(event.body, body);
    assert.equal(event.isBase64Encoded, false);
    const rc = event.requestContext;
    assert.equal(rc.http.method, 'POST');
    assert.equal(rc.http.path, '/v1/devices');
    assert.equal(rc.http.sourceIp, '127.0.0.1');
    assert.equal(rc.http.userAgent, 'unit/1');
    assert.equal(rc.routeKey, 'POST /v1/devices');
    assert.equal(rc.stage, '$default');
    assert.equal(rc.requestId, res.headers.get('apigw-requestid'));
    assert.ok(Math.abs(rc.timeEpoch - Date.now()) < 5000);
    assert.match(rc.time, /^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/);
    assert.equal((rc as { authorizer?: unknown }).authorizer, undefined, 'no IAM authorizer locally (bearer mode)');
    assert.equal(context.functionName, 'operator-api');
    assert.match(context.awsRequestId, /^[0-9a-f-]{36}$/);
    assert.notEqual(context.awsRequestId, rc.requestId, 'Lambda and API Gateway request ids differ, as in AWS');
    assert.ok(context.remaining > 0 && context.remaining <= 300);
  });

  test('path parameters are matched from the route table and decoded', async () => {
    const { event } = await echo('/v1/devices/pump-7/circuit/reset', { method: 'POST' });
    assert.equal(event.routeKey, 'POST /v1/devices/{deviceId}/circuit/reset');
    assert.deepEqual(event.pathParameters, { deviceId: 'pump-7' });
    assert.equal(event.body, undefined);
    assert.equal(event.isBase64Encoded, false);
    // Literal segments beat parameters: /v1/jobs/{jobId} vs /v1/devices/{deviceId}
    const { event: e2 } = await echo('/v1/jobs/job_ABCDEFGHIJKL');
    assert.equal(e2.routeKey, 'GET /v1/jobs/{jobId}');
    assert.deepEqual(e2.pathParameters, { jobId: 'job_ABCDEFGHIJKL' });
  });

  test('a binary body arrives base64-encoded; a base64 response is decoded', async () => {
    const { event } = await echo('/v1/devices', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array([1, 2, 3]),
    });
    assert.equal(event.isBase64Encoded, true);
    assert.deepEqual(Buffer.from(event.body!, 'base64'), Buffer.from([1, 2, 3]));
    const res = await fetch(`${api.url}/v1/health?mode=binary`);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.from([0, 1, 2, 255]));
  });

  test('results without statusCode are inferred as 200 JSON', async () => {
    const res = await fetch(`${api.url}/v1/health?mode=plain`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.deepEqual(await res.json(), { plain: true, path: '/v1/health' });
    const res2 = await fetch(`${api.url}/v1/health?mode=string`);
    assert.equal(await res2.json(), 'just a string');
  });

  test('unmatched paths answer 404, wrong methods 405 with Allow, both as JSON errors', async () => {
    const r404 = await fetch(`${api.url}/v1/nope`);
    assert.equal(r404.status, 404);
    assert.equal(((await r404.json()) as { error: string }).error, 'not_found');
    const r405 = await fetch(`${api.url}/v1/health`, { method: 'DELETE' });
    assert.equal(r405.status, 405);
    assert.equal(r405.headers.get('allow'), 'GET');
    const b = (await r405.json()) as { error: string; message: string };
    assert.equal(b.error, 'method_not_allowed');
  });

  test('bodies over the gateway limit get 413 without invoking the handler', async () => {
    const before = access.length;
    const res = await fetch(`${api.url}/v1/devices`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(2000),
    });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { error: string }).error, 'payload_too_large');
    // Chunked (no content-length): the limit still holds while streaming.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${api.url}/v1/devices`,
        { method: 'POST', headers: { 'transfer-encoding': 'chunked' } },
        (r) => {
          r.resume();
          resolve(r.statusCode!);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 4; i++) req.write('y'.repeat(400));
      req.end();
    });
    assert.equal(status, 413);
    assert.ok(
      access.slice(before).every((e) => e.routeKey === undefined),
      'the handler never ran',
    );
  });

  test('a throwing handler is a bare 500; a slow one hits the integration timeout (503)', async () => {
    const r500 = await fetch(`${api.url}/v1/health?mode=throw`);
    assert.equal(r500.status, 500);
    const b = (await r500.json()) as { error: string; message: string };
    assert.equal(b.error, 'internal_error');
    assert.doesNotMatch(b.message, /exploded/, 'Lambda errors are not shown to the caller');
    assert.match(access.at(-1)!.error!, /exploded/, 'but they are logged');
    const r503 = await fetch(`${api.url}/v1/health?mode=slow&ms=1000`);
    assert.equal(r503.status, 503);
  });

  test('a route whose handler module does not exist yet answers 501 naming the missing file', async () => {
    const res = await fetch(`${api.url}/v1/devices/pump-1/reports`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 501);
    const b = (await res.json()) as { error: string; message: string };
    assert.equal(b.error, 'not_implemented');
    assert.match(b.message, /device-api.*device-api\.ts does not exist yet/);
  });
});

describe('local API gateway: requests the HTTP parser refuses', () => {
  let api: ApiServer;
  before(async () => {
    api = await startApiServer({ resolve: handlersFromDirectory(fixtures), timeoutMs: 300, maxBodyBytes: 1024 });
  });
  after(() => api.close());

  /** Send raw bytes (no client library would send these) and read the whole answer. */
  const raw = async (bytes: string) => {
    const { connect } = await import('node:net');
    const socket = connect(api.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.write(bytes, 'latin1');
    await new Promise((r) => socket.once('close', r));
    const text = Buffer.concat(chunks).toString('utf8');
    const [head = '', body = ''] = text.split('\r\n\r\n');
    const status = Number(head.split(' ')[1]);
    const headers = Object.fromEntries(
      head
        .split('\r\n')
        .slice(1)
        .map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
    );
    return { status, headers, json: body ? JSON.parse(body) : undefined };
  };

  test('an unknown method on a known path is 405 with Allow and a JSON error, elsewhere 404', async () => {
    const known = await raw('FROB /v1/devices HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(known.status, 405);
    assert.equal(known.headers['content-type'], 'application/json');
    assert.equal(known.json.error, 'method_not_allowed');
    assert.match(known.headers.allow ?? '', /GET/);
    const unknown = await raw('FROB /nowhere HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error, 'not_found');
  });

  test('control characters in the path and Content-Length with chunked are 400 with a JSON error', async () => {
    for (const bytes of [
      'GET /v1/dev\x01ices HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /v1/devices\x7f HTTP/1.1\r\nHost: x\r\n\r\n',
      'POST /v1/devices HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    ]) {
      const res = await raw(bytes);
      assert.equal(res.status, 400, JSON.stringify(bytes));
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.json.error, 'bad_request');
      assert.ok(res.headers['apigw-requestid']);
    }
  });
});
