/**
 * Container fixtures for the agent's health/recovery tests on the real engine (container-lab's Podman or any
 * Docker): busybox services that serve HTTP, exit at once, or just sleep, labelled with a unique agent id so
 * parallel test files never touch each other's containers, and removed afterwards.
 */
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { LABEL_SERVICE, ownershipLabels } from '../../agent/src/labels.js';
import { requireLabRegistry } from './engine.js';

export const labImage = (tag: '1' | '2' | string = '1') => `${requireLabRegistry()}/lab/busybox:${tag}`;

export const uniqueAgentId = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

/**
 * An HTTP service on :8080 serving "ok" at /, with a shell as PID 1 that exits promptly on SIGTERM (so
 * restarts take milliseconds, not the engine's stop timeout) and keeps running when httpd is killed (so an
 * HTTP check can fail while the container still runs, as in the seed's "service hung" scenario).
 */
export const HTTPD_CMD = [
  'sh',
  '-c',
  'trap "exit 0" TERM; mkdir -p /www && echo ok > /www/index.html && httpd -p 8080 -h /www; while :; do sleep 3600 & wait $!; done',
];
/** A service that always exits (non-zero) right after it starts. */
export const EXIT_CMD = ['sh', '-c', 'echo crashing; exit 3'];
/** Runs forever, stops promptly. */
export const SLEEP_CMD = ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 3600 & wait $!; done'];

export async function ensureImage(docker: Docker, image: string): Promise<void> {
  try {
    await docker.getImage(image).inspect();
    return;
  } catch {
    /* pull below */
  }
  const stream = await docker.pull(image);
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err, out: Array<{ error?: string }>) => {
      const failed = err?.message ?? out.find((o) => o.error)?.error;
      if (failed) reject(new Error(`pull ${image}: ${failed}`));
      else resolve();
    }),
  );
}

export interface LabContainerOptions {
  agentId: string;
  service: string;
  cmd: string[];
  image?: string;
  publish?: { container: number; host: number };
  extraLabels?: Record<string, string>;
  start?: boolean;
}

export async function createLabContainer(docker: Docker, o: LabContainerOptions): Promise<Docker.Container> {
  const image = o.image ?? labImage('1');
  await ensureImage(docker, image);
  const container = await docker.createContainer({
    Image: image,
    name: `${o.agentId}-${o.service}`,
    Cmd: o.cmd,
    Labels: { ...ownershipLabels(o.agentId), [LABEL_SERVICE]: o.service, ...o.extraLabels },
    ExposedPorts: o.publish ? { [`${o.publish.container}/tcp`]: {} } : undefined,
    HostConfig: o.publish
      ? { PortBindings: { [`${o.publish.container}/tcp`]: [{ HostPort: String(o.publish.host) }] } }
      : {},
  });
  if (o.start !== false) await container.start();
  return container;
}

/** Runs a command in a container and waits for it (test-side poking: kill httpd, etc.). */
export async function execWait(docker: Docker, id: string, cmd: string[]): Promise<number | null> {
  const exec = await docker.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  stream.resume();
  await new Promise((r) => stream.once('end', r));
  for (let i = 0; i < 40; i++) {
    const info = await exec.inspect();
    if (!info.Running) return info.ExitCode ?? null;
    await new Promise((r) => setTimeout(r, 25));
  }
  return null;
}

/** Every container of this agent id, whatever its state. */
export async function labContainers(docker: Docker, agentId: string) {
  return docker.listContainers({ all: true, filters: { label: [`io.fleetmedic.agent=${agentId}`] } });
}

export async function removeLabContainers(docker: Docker, agentId: string): Promise<void> {
  for (const c of await labContainers(docker, agentId))
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => {});
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`,
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
