/**
 * Free-space check before a pull: a full disk is its own error (DiskFull), not an endless pull loop.
 *
 * Where: `diskPath` when configured, else the engine's data root (Info.DockerRootDir) when the engine is
 * local (unix socket / localhost), else no check.
 * How much: the image's compressed size from its registry manifest (config + layers), × `extractFactor`
 * for unpacking, + `minFreeBytes` head-room. The engine's distribution-inspect endpoint only knows the size of
 * the manifest document (and Podman does not implement it), so the size comes from the registry itself, with
 * a short timeout, answering its auth challenge as the engine does: `Basic` with the image's registry
 * credential, `Bearer` with a token from the realm it names (asked with that credential, or anonymously).
 * When the size stays unknown (refused, offline) only the head-room is checked.
 */
import { statfs } from 'node:fs/promises';
import type Docker from 'dockerode';
import { StepError } from '../backoff/errors.js';
import { isLocalEngine } from './docker.js';
import type { EngineAuth } from './registry-auth.js';

export interface DiskCheckConfig {
  /** Explicit path to check (e.g. the engine's data root when the engine runs elsewhere). */
  path?: string;
  /** Always keep this much free (default 256 MiB). */
  minFreeBytes: number;
  /** Unpacked size ≈ compressed size × this (default 2). */
  extractFactor: number;
  /** Registries reached over plain HTTP (e.g. 127.0.0.1:5000); others HTTPS. localhost is always allowed plain. */
  insecureRegistries: string[];
  /** Registry manifest lookup timeout (ms). */
  lookupTimeoutMs: number;
  enabled: boolean;
}

export const DEFAULT_DISK_CHECK: DiskCheckConfig = {
  minFreeBytes: 256 * 1024 * 1024,
  extractFactor: 2,
  insecureRegistries: [],
  lookupTimeoutMs: 3000,
  enabled: true,
};

export async function freeBytes(path: string): Promise<number | undefined> {
  try {
    const s = await statfs(path);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

interface ParsedRef {
  registry: string;
  repo: string;
  reference: string;
}

export function parseImageRef(ref: string): ParsedRef {
  let rest = ref;
  let registry = 'registry-1.docker.io';
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    rest = rest.slice(slash + 1);
  }
  let reference = 'latest';
  const at = rest.indexOf('@');
  if (at >= 0) {
    reference = rest.slice(at + 1);
    rest = rest.slice(0, at);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon > rest.lastIndexOf('/')) {
      reference = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
    }
  }
  if (registry === 'registry-1.docker.io' && !rest.includes('/')) rest = `library/${rest}`;
  return { registry, repo: rest, reference };
}

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

const GO_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  s390x: 's390x',
  ppc64: 'ppc64le',
};

interface Manifest {
  manifests?: Array<{ digest: string; platform?: { os?: string; architecture?: string } }>;
  config?: { size?: number };
  layers?: Array<{ size?: number }>;
}

/** `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` → its scheme and parameters (lower-cased names). */
export function parseChallenge(header: string | null): { scheme: string; params: Record<string, string> } | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g))
    params[p[1]!.toLowerCase()] = p[2] ?? p[3] ?? '';
  return { scheme: m[1]!.toLowerCase(), params };
}

/** Compressed image size from its registry (with the image's credential if any); undefined when it cannot be known. */
export async function registryImageSize(
  ref: string,
  cfg: Pick<DiskCheckConfig, 'insecureRegistries' | 'lookupTimeoutMs'>,
  auth?: EngineAuth,
): Promise<number | undefined> {
  const { registry, repo, reference } = parseImageRef(ref);
  const host = registry.replace(/:\d+$/, '');
  const plain =
    cfg.insecureRegistries.includes(registry) || host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
  const base = `${plain ? 'http' : 'https'}://${registry}/v2/${repo}/manifests/`;
  const basic = auth ? `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` : undefined;
  let authorization: string | undefined;
  let challenged = false;
  const signal = () => AbortSignal.timeout(cfg.lookupTimeoutMs);
  const get = async (r: string): Promise<Manifest | undefined> => {
    let res = await fetch(base + r, {
      headers: { accept: ACCEPT, ...(authorization ? { authorization } : {}) },
      signal: signal(),
    });
    if (res.status === 401 && !challenged) {
      // One challenge per lookup: its answer (Basic header or bearer token) serves the index and the manifest.
      challenged = true;
      await res.body?.cancel();
      const ch = parseChallenge(res.headers.get('www-authenticate'));
      if (ch?.scheme === 'basic' && basic) authorization = basic;
      else if (ch?.scheme === 'bearer' && ch.params.realm) {
        const url = new URL(ch.params.realm);
        if (ch.params.service) url.searchParams.set('service', ch.params.service);
        url.searchParams.set('scope', ch.params.scope ?? `repository:${repo}:pull`);
        const t = await fetch(url, { headers: basic ? { authorization: basic } : {}, signal: signal() });
        if (!t.ok) {
          await t.body?.cancel();
          return undefined;
        }
        const body = (await t.json()) as { token?: string; access_token?: string };
        const token = body.token ?? body.access_token;
        if (!token) return undefined;
        authorization = `Bearer ${token}`;
      } else return undefined;
      res = await fetch(base + r, { headers: { accept: ACCEPT, authorization }, signal: signal() });
    }
    if (!res.ok) {
      await res.body?.cancel();
      return undefined;
    }
    return (await res.json()) as Manifest;
  };
  try {
    let m = await get(reference);
    if (m?.manifests) {
      const arch = GO_ARCH[process.arch] ?? process.arch;
      const pick =
        m.manifests.find((x) => x.platform?.os === 'linux' && x.platform.architecture === arch) ?? m.manifests[0];
      m = pick ? await get(pick.digest) : undefined;
    }
    if (!m?.layers) return undefined;
    return (m.config?.size ?? 0) + m.layers.reduce((n, l) => n + (l.size ?? 0), 0);
  } catch {
    return undefined;
  }
}

export class DiskChecker {
  private rootDir: Promise<string | undefined> | undefined;
  constructor(
    private readonly docker: Docker,
    private readonly cfg: DiskCheckConfig,
    private readonly dockerHost?: string,
  ) {}

  private async checkPath(): Promise<string | undefined> {
    if (this.cfg.path) return this.cfg.path;
    if (!isLocalEngine(this.dockerHost)) return undefined;
    this.rootDir ??= this.docker.info().then(
      (i: { DockerRootDir?: string }) => i.DockerRootDir,
      () => undefined,
    );
    return await this.rootDir;
  }

  /** Throws StepError('DiskFull') when the pull would not fit; returns what was checked otherwise. */
  async ensureRoomFor(
    ref: string,
    auth?: EngineAuth,
  ): Promise<{ path?: string; free?: number; needed?: number; imageBytes?: number }> {
    if (!this.cfg.enabled) return {};
    const path = await this.checkPath();
    if (!path) return {};
    const free = await freeBytes(path);
    if (free === undefined) return { path };
    const imageBytes = await registryImageSize(ref, this.cfg, auth);
    const needed = this.cfg.minFreeBytes + (imageBytes ?? 0) * this.cfg.extractFactor;
    if (free < needed) {
      const mib = (n: number) => `${Math.round(n / 1048576)} MiB`;
      throw new StepError(
        `not enough disk space to pull ${ref}: ${mib(free)} free on ${path}, need ${mib(needed)}` +
          (imageBytes !== undefined
            ? ` (image ${mib(imageBytes)} × ${this.cfg.extractFactor} + ${mib(this.cfg.minFreeBytes)} head-room)`
            : ' (head-room; image size unknown)'),
        'DiskFull',
        false,
      );
    }
    return { path, free, needed, imageBytes };
  }
}
