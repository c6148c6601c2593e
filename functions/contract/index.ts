export * from './common.js';
export * from './target-state.js';
export * from './registry.js';
export * from './report.js';
export * from './jobs.js';
export * from './operator.js';
export * from './credentials.js';
export * from './routes.js';
