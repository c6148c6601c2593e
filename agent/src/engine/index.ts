export { dockerFromHost, isLocalEngine } from './docker.js';
export { Executor, type ExecutorOptions, type StepOutcome } from './executor.js';
export { observe, listOwnedContainers, presentImages, type Observation } from './observe.js';
export { pullImage, ProgressParser, type PullProgress } from './pull.js';
export {
  DiskChecker,
  DEFAULT_DISK_CHECK,
  freeBytes,
  registryImageSize,
  parseImageRef,
  type DiskCheckConfig,
} from './disk.js';
export { createOptions } from './create-options.js';
export { containerName, defaultNamePrefix, DEFAULT_NAME_PREFIX } from './names.js';
