/**
 * A fetch-like transport on node:http/https for the shared upstream-call policy. Node's global fetch would do,
 * but it loads undici (several MB of resident memory) into an agent whose idle budget is 1.3x an empty Node
 * process; the agent only needs small JSON requests. Bodies are capped (the API's answers are small).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { FetchLike, ResponseLike } from '#client/upstream-call.js';

export interface TransportResponse extends ResponseLike {
  text(): Promise<string>;
}

const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export const httpFetch: FetchLike<TransportResponse> = (url, init) =>
  new Promise((resolve, reject) => {
    const u = new URL(url);
    const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const headers: Record<string, string | number> = { ...init.headers };
    if (init.body !== undefined) headers['content-length'] = Buffer.byteLength(init.body);
    const req = send(u, { method: init.method, headers, signal: init.signal }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const body = new Promise<string>((ok, fail) => {
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            res.destroy(new Error(`response from ${u.host} larger than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.once('end', () => ok(Buffer.concat(chunks).toString('utf8')));
        res.once('error', fail);
        res.once('aborted', () => fail(new Error('response aborted')));
      });
      body.catch(() => {});
      resolve({
        status: res.statusCode ?? 0,
        headers: { get: (name: string) => headerValue(res.headers[name.toLowerCase()]) },
        text: () => body,
      });
    });
    req.once('error', reject);
    if (init.body !== undefined) req.end(init.body);
    else req.end();
  });

function headerValue(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(', ') : v;
}
