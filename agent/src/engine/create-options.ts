/** ServiceSpec → engine create options (pure). Labels carry ownership, service, spec hash and target version. */
import type Docker from 'dockerode';
import type { ServiceSpec } from '#contract/target-state.js';
import { LABEL_SERVICE, LABEL_SPEC_HASH, LABEL_TARGET_VERSION, ownershipLabels } from '../labels.js';

export interface CreateInput {
  name: string;
  service: string;
  spec: ServiceSpec;
  specHash: string;
  agentId: string;
  targetVersion?: string;
}

export function createOptions(input: CreateInput): Docker.ContainerCreateOptions {
  const { spec } = input;
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostPort: string }>> = {};
  for (const p of spec.ports) {
    const key = `${p.container}/${p.protocol}`;
    exposed[key] = {};
    if (p.host !== undefined) {
      bindings[key] ??= [];
      bindings[key].push({ HostPort: String(p.host) });
    }
  }
  const labels: Record<string, string> = {
    ...ownershipLabels(input.agentId),
    [LABEL_SERVICE]: input.service,
    [LABEL_SPEC_HASH]: input.specHash,
  };
  if (input.targetVersion) labels[LABEL_TARGET_VERSION] = input.targetVersion;
  return {
    name: input.name,
    Image: spec.image,
    ...(spec.command ? { Cmd: spec.command } : {}),
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    Labels: labels,
    ExposedPorts: exposed,
    HostConfig: {
      PortBindings: bindings,
      // A source starting with '/' is a host path, anything else a named volume (created by the engine).
      Binds: spec.volumes.map((v) => `${v.source}:${v.target}${v.readOnly ? ':ro' : ''}`),
      RestartPolicy: { Name: spec.restartPolicy === 'no' ? '' : spec.restartPolicy },
    },
  };
}
