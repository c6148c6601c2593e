/**
 * SigV4 signing for the deployed API (operator routes use IAM auth in AWS). Uses @smithy/signature-v4 and the
 * default credential chain (env, profile/SSO, instance/container roles), both already installed with the AWS SDK.
 */
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { Checksum, SourceData } from '@smithy/types';

/** Node's crypto as the Sha256 constructor signature-v4 expects (HMAC when given a secret). */
class NodeSha256 implements Checksum {
  private hash;
  constructor(secret?: SourceData) {
    this.hash = secret ? createHmac('sha256', toBuffer(secret)) : createHash('sha256');
  }
  update(data: SourceData): void {
    this.hash.update(toBuffer(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
  reset(): void {
    throw new Error('not supported');
  }
}
function toBuffer(d: SourceData): Buffer {
  if (typeof d === 'string') return Buffer.from(d, 'utf8');
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  return Buffer.from(d as ArrayBuffer);
}

/** `https://abc123.execute-api.eu-west-1.amazonaws.com` → eu-west-1; otherwise the configured region. */
export function regionFor(url: URL): string | undefined {
  const m = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url.hostname);
  return m?.[1] ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
}

export interface SignInput {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

export async function signRequest(req: SignInput): Promise<Record<string, string>> {
  const region = regionFor(req.url);
  if (!region) throw new Error('cannot tell the AWS region: set AWS_REGION (or use the execute-api URL)');
  const signer = new SignatureV4({
    service: 'execute-api',
    region,
    credentials: defaultProvider(),
    sha256: NodeSha256,
  });
  const query: Record<string, string> = {};
  for (const [k, v] of req.url.searchParams) query[k] = v;
  const signed = await signer.sign({
    method: req.method,
    protocol: req.url.protocol,
    hostname: req.url.hostname,
    ...(req.url.port ? { port: Number(req.url.port) } : {}),
    path: req.url.pathname,
    query,
    headers: { ...req.headers, host: req.url.host },
    ...(req.body !== undefined ? { body: req.body } : {}),
  });
  return signed.headers as Record<string, string>;
}
