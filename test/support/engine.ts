/**
 * The real Docker Engine API for agent tests (container-lab's Podman locally and in CI, or any DOCKER_HOST).
 * A test that needs the engine fails with this message when none answers: it never skips.
 */
import Docker from 'dockerode';

export const ENGINE_HINT =
  'No Docker Engine API answered. Start one with `../shared/tools/container-lab up` and export what it prints ' +
  '(DOCKER_HOST, LAB_REGISTRY), or point DOCKER_HOST at a real Docker engine.';

export function dockerFromEnv(): Docker {
  const host = process.env.DOCKER_HOST;
  if (host?.startsWith('unix://')) return new Docker({ socketPath: host.slice('unix://'.length) });
  return new Docker(); // dockerode reads DOCKER_HOST (tcp://) or falls back to /var/run/docker.sock
}

export async function requireEngine(): Promise<Docker> {
  const docker = dockerFromEnv();
  try {
    await docker.ping();
  } catch (err) {
    throw new Error(`${ENGINE_HINT} (${(err as Error).message})`);
  }
  return docker;
}

export function requireLabRegistry(): string {
  const reg = process.env.LAB_REGISTRY;
  if (!reg) throw new Error(`LAB_REGISTRY is not set. ${ENGINE_HINT}`);
  return reg;
}

/** container-lab's registry that requires a login (basic auth), with its user and password. */
export function requireLabAuthRegistry(): { registry: string; username: string; password: string; image: string } {
  const { LAB_AUTH_REGISTRY: registry, LAB_AUTH_USER: username, LAB_AUTH_PASSWORD: password } = process.env;
  if (!registry || !username || !password)
    throw new Error(`LAB_AUTH_REGISTRY, LAB_AUTH_USER and LAB_AUTH_PASSWORD must be set. ${ENGINE_HINT}`);
  return { registry, username, password, image: `${registry}/lab/private:1` };
}
