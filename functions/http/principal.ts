import type { Principal } from './types.js';

/** How an operator appears in job history and markers (`by`/`createdBy`). */
export function operatorName(p: Principal): string {
  if (p.kind === 'operator') return `operator:${p.id}`.slice(0, 128);
  if (p.kind === 'device') return p.deviceId;
  return 'anonymous';
}
