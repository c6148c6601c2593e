export { plan, dependencyOrder, stepKeys } from './plan.js';
export { specHash, fullSpecHash, canonicalJson } from './spec-hash.js';
export type * from './types.js';
