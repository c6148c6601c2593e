/** What a device should run. Set by operators, pulled by agents (ETag / 304). */
import * as z from 'zod';
import { ImageRef, ServiceName } from './common.js';

const healthCommon = {
  intervalSeconds: z.number().int().min(1).max(3600).default(30),
  timeoutSeconds: z.number().int().min(1).max(300).default(5),
  failureThreshold: z.number().int().min(1).max(100).default(3),
  /** Grace after (re)start before checks count, and the wait before the re-check after a restart (seed 003: 5 s). */
  startupDelaySeconds: z.number().int().min(0).max(3600).default(5),
};

export const HealthCheckSpec = z
  .discriminatedUnion('kind', [
    z.strictObject({
      kind: z.literal('http'),
      port: z.number().int().min(1).max(65535),
      path: z.string().startsWith('/').max(1024).default('/'),
      ...healthCommon,
    }),
    z.strictObject({
      kind: z.literal('tcp'),
      port: z.number().int().min(1).max(65535),
      ...healthCommon,
    }),
    z.strictObject({
      kind: z.literal('process'),
      /** Matched against the command lines of the processes inside the container. */
      processName: z.string().min(1).max(256),
      ...healthCommon,
    }),
    z.strictObject({
      kind: z.literal('custom'),
      /** Run inside the container; exit code 0 within the timeout means healthy. */
      command: z.array(z.string().max(4096)).min(1).max(64),
      ...healthCommon,
    }),
  ])
  .meta({ id: 'HealthCheckSpec' });
export type HealthCheckSpec = z.output<typeof HealthCheckSpec>;

export const RestartPolicy = z.enum(['no', 'always', 'on-failure', 'unless-stopped']);

export const ServiceSpec = z
  .strictObject({
    image: ImageRef,
    command: z.array(z.string().max(4096)).max(128).optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(8192)).default({}),
    ports: z
      .array(
        z.strictObject({
          container: z.number().int().min(1).max(65535),
          host: z.number().int().min(1).max(65535).optional(),
          protocol: z.enum(['tcp', 'udp']).default('tcp'),
        }),
      )
      .max(64)
      .default([]),
    volumes: z
      .array(z.strictObject({ source: z.string().min(1).max(1024), target: z.string().startsWith('/').max(1024), readOnly: z.boolean().default(false) }))
      .max(64)
      .default([]),
    restartPolicy: RestartPolicy.default('no'),
    healthCheck: HealthCheckSpec.optional(),
    /** Services that must be healthy before this one starts; recovered before it. */
    dependsOn: z.array(ServiceName).max(32).default([]),
  })
  .meta({ id: 'ServiceSpec' });
export type ServiceSpec = z.output<typeof ServiceSpec>;

export const TargetState = z
  .strictObject({
    services: z.record(ServiceName, ServiceSpec).refine((s) => Object.keys(s).length <= 64, 'at most 64 services'),
    /**
     * A new target counts as deployed once every service passes its health checks within this window;
     * otherwise the agent rolls back to the last successful target.
     */
    rollbackWindowSeconds: z.number().int().min(10).max(86400).default(300),
  })
  .superRefine((target, ctx) => {
    const names = new Set(Object.keys(target.services));
    for (const [name, spec] of Object.entries(target.services)) {
      for (const dep of spec.dependsOn) {
        if (!names.has(dep)) ctx.addIssue({ code: 'custom', path: ['services', name, 'dependsOn'], message: `unknown dependency '${dep}'` });
        if (dep === name) ctx.addIssue({ code: 'custom', path: ['services', name, 'dependsOn'], message: 'a service cannot depend on itself' });
      }
    }
    if (findCycle(target.services)) ctx.addIssue({ code: 'custom', path: ['services'], message: 'dependency cycle' });
  })
  .meta({ id: 'TargetState' });
export type TargetState = z.output<typeof TargetState>;
export type TargetStateInput = z.input<typeof TargetState>;

/** Target as served to a device: the state plus its version (also the ETag). */
export const TargetStateDocument = z
  .object({ version: z.string(), updatedAt: z.string(), target: TargetState })
  .meta({ id: 'TargetStateDocument' });
export type TargetStateDocument = z.output<typeof TargetStateDocument>;

function findCycle(services: Record<string, { dependsOn?: string[] }>): boolean {
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string): boolean => {
    const s = state.get(name);
    if (s === 'visiting') return true;
    if (s === 'done') return false;
    state.set(name, 'visiting');
    for (const dep of services[name]?.dependsOn ?? []) if (services[dep] && visit(dep)) return true;
    state.set(name, 'done');
    return false;
  };
  return Object.keys(services).some(visit);
}
