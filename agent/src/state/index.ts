export { StateDir, DEFAULT_STATE_DIR } from './state-dir.js';
export { JsonStore, type JsonStoreOptions, type LoadResult, type LoadSource } from './json-store.js';
export { acquireLock, LockHeldError, StateLock, readLock, type LockInfo } from './lock.js';
export { MarkerStore, type ManualStopMarker } from './markers.js';
export { Counters } from './counters.js';
export { atomicWriteFile, settleWrites } from './atomic.js';
