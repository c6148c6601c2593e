/** What a device should run. Set by operators, pulled by agents (ETag / 304). */
import * as z from 'zod/mini';
import { ImageRef, ServiceName } from './common.js';
import { RegistryAuth, RegistryCredentialName } from './registry.js';

const healthCommon = {
  intervalSeconds: z._default(z.int().check(z.minimum(1), z.maximum(3600)), 30),
  timeoutSeconds: z._default(z.int().check(z.minimum(1), z.maximum(300)), 5),
  failureThreshold: z._default(z.int().check(z.minimum(1), z.maximum(100)), 3),
  /** Grace after (re)start before checks count, and the wait before the re-check after a restart. */
  startupDelaySeconds: z._default(z.int().check(z.minimum(0), z.maximum(3600)), 5),
};

const Port = () => z.int().check(z.minimum(1), z.maximum(65535));

export const HealthCheckSpec = z
  .discriminatedUnion('kind', [
    z.strictObject({
      kind: z.literal('http'),
      port: Port(),
      path: z._default(z.string().check(z.startsWith('/'), z.maxLength(1024)), '/'),
      ...healthCommon,
    }),
    z.strictObject({
      kind: z.literal('tcp'),
      port: Port(),
      ...healthCommon,
    }),
    z.strictObject({
      kind: z.literal('process'),
      /** Matched against the command lines of the processes inside the container. */
      processName: z.string().check(z.minLength(1), z.maxLength(256)),
      ...healthCommon,
    }),
    z.strictObject({
      kind: z.literal('custom'),
      /** Run inside the container; exit code 0 within the timeout means healthy. */
      command: z.array(z.string().check(z.maxLength(4096))).check(z.minLength(1), z.maxLength(64)),
      ...healthCommon,
    }),
  ])
  .register(z.globalRegistry, { id: 'HealthCheckSpec' });
export type HealthCheckSpec = z.output<typeof HealthCheckSpec>;

export const RestartPolicy = z.enum(['no', 'always', 'on-failure', 'unless-stopped']);

export const ServiceSpec = z
  .strictObject({
    image: ImageRef,
    command: z.optional(z.array(z.string().check(z.maxLength(4096))).check(z.maxLength(128))),
    env: z._default(
      z.record(
        z.string().check(
          z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
          z.maxLength(256),
          // What the SDK's marshalling of a map trips over (a member named like an object's own machinery).
          z.refine((k) => k !== 'constructor' && k !== 'prototype', 'constructor and prototype are reserved'),
        ),
        z.string().check(z.maxLength(8192)),
      ),
      {},
    ),
    ports: z._default(
      z
        .array(
          z.strictObject({
            container: Port(),
            host: z.optional(Port()),
            protocol: z._default(z.enum(['tcp', 'udp']), 'tcp'),
          }),
        )
        .check(z.maxLength(64)),
      [],
    ),
    volumes: z._default(
      z
        .array(
          z.strictObject({
            source: z.string().check(z.minLength(1), z.maxLength(1024)),
            target: z.string().check(z.startsWith('/'), z.maxLength(1024)),
            readOnly: z._default(z.boolean(), false),
          }),
        )
        .check(z.maxLength(64)),
      [],
    ),
    restartPolicy: z._default(RestartPolicy, 'no'),
    healthCheck: z.optional(HealthCheckSpec),
    /**
     * false: this service's alerts stay off the pager (still recorded, still in Slack and in the device's history);
     * for a service whose failure does not need a person at night. Absent or true: page as the alert's level says.
     */
    notifyOnFail: z.optional(z.boolean()),
    /** Services that must be healthy before this one starts; recovered before it. */
    dependsOn: z._default(z.array(ServiceName).check(z.maxLength(32)), []),
  })
  .register(z.globalRegistry, { id: 'ServiceSpec' });
export type ServiceSpec = z.output<typeof ServiceSpec>;

export const TargetState = z
  .strictObject({
    services: z
      .record(ServiceName, ServiceSpec)
      .check(z.refine((s) => Object.keys(s).length <= 64, 'at most 64 services')),
    /**
     * A new target counts as deployed once every service passes its health checks within this window;
     * otherwise the agent rolls back to the last successful target.
     */
    rollbackWindowSeconds: z._default(z.int().check(z.minimum(10), z.maximum(86400)), 300),
    /**
     * Names of registry credentials stored in the cloud that this device may use to pull its images (one per
     * registry). Only names travel in the target; the cloud resolves them for this device when it fetches its
     * target (TargetStateDocument.registryAuth). Optional, so targets without it keep their version.
     */
    registryCredentials: z.optional(
      z.array(RegistryCredentialName).check(
        z.maxLength(16),
        z.refine((names) => new Set(names).size === names.length, 'each credential at most once'),
      ),
    ),
  })
  .check(
    z.superRefine((target, ctx) => {
      const names = new Set(Object.keys(target.services));
      for (const [name, spec] of Object.entries(target.services)) {
        for (const dep of spec.dependsOn) {
          if (!names.has(dep))
            ctx.addIssue({
              code: 'custom',
              path: ['services', name, 'dependsOn'],
              message: `unknown dependency '${dep}'`,
            });
          if (dep === name)
            ctx.addIssue({
              code: 'custom',
              path: ['services', name, 'dependsOn'],
              message: 'a service cannot depend on itself',
            });
        }
      }
      const cycle = findCycle(target.services);
      if (cycle)
        ctx.addIssue({ code: 'custom', path: ['services'], message: `dependency cycle: ${cycle.join(' -> ')}` });
      // Two containers cannot publish one host port: caught here instead of failing at container start.
      for (const message of hostPortConflicts(target.services))
        ctx.addIssue({ code: 'custom', path: ['services'], message });
    }),
  )
  .register(z.globalRegistry, {
    id: 'TargetState',
    description:
      'Rules across fields (checked by the server, 400 validation_failed): every `dependsOn` entry names another service of this target (not the service itself), and the dependencies have no cycle. Service names are the keys of `services`, so they are unique.',
  });
export type TargetState = z.output<typeof TargetState>;
export type TargetStateInput = z.input<typeof TargetState>;

/**
 * Target as served to a device: the state plus its version (the ETag, extended by a fingerprint of the
 * credentials' versions when it names any). `registryAuth` is present only in the device's own answer: the
 * credentials `target.registryCredentials` names, resolved by name. Operators never get it back.
 */
export const TargetStateDocument = z
  .object({
    version: z.string(),
    updatedAt: z.string(),
    target: TargetState,
    registryAuth: z.optional(z.record(RegistryCredentialName, RegistryAuth)),
  })
  .register(z.globalRegistry, { id: 'TargetStateDocument' });
export type TargetStateDocument = z.output<typeof TargetStateDocument>;

/** The first dependency cycle found, as the services along it with the first repeated at the end. */
function findCycle(services: Record<string, { dependsOn?: string[] }>): string[] | null {
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (name: string): string[] | null => {
    const s = state.get(name);
    if (s === 'visiting') return [...path.slice(path.indexOf(name)), name];
    if (s === 'done') return null;
    state.set(name, 'visiting');
    path.push(name);
    for (const dep of services[name]?.dependsOn ?? []) {
      const found = services[dep] ? visit(dep) : null;
      if (found) return found;
    }
    path.pop();
    state.set(name, 'done');
    return null;
  };
  for (const name of Object.keys(services)) {
    const found = visit(name);
    if (found) return found;
  }
  return null;
}

/** One message per host port/protocol published more than once, naming every service that publishes it. */
function hostPortConflicts(
  services: Record<string, { ports?: Array<{ host?: number; protocol?: string }> }>,
): string[] {
  const users = new Map<string, string[]>();
  for (const [name, spec] of Object.entries(services))
    for (const p of spec.ports ?? []) {
      if (p.host === undefined) continue;
      const key = `${p.host}/${p.protocol ?? 'tcp'}`;
      users.set(key, [...(users.get(key) ?? []), name]);
    }
  const out: string[] = [];
  for (const [key, names] of users) {
    if (names.length < 2) continue;
    const distinct = [...new Set(names)];
    out.push(
      distinct.length === 1
        ? `host port ${key} is published twice by '${distinct[0]}'`
        : `host port ${key} is published by more than one service: ${distinct.map((n) => `'${n}'`).join(' and ')}`,
    );
  }
  return out;
}
