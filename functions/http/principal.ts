import type { Principal } from './types.js';

/** How an operator appears in job history and markers (`by`/`createdBy`). */
export function operatorName(p: Principal): string {
  if (p.kind === 'operator') return `operator:${p.id}`.slice(0, 128);
  if (p.kind === 'device') return p.deviceId;
  return 'anonymous';
}

/** Who did an operator action, under which correlation id and when: what the audit trail records. */
export function actor(req: { principal: Principal; correlationId: string; now: number }): {
  by: string;
  correlationId: string;
  now: number;
} {
  return { by: operatorName(req.principal), correlationId: req.correlationId, now: req.now };
}
