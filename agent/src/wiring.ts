/**
 * Which target provider and which modules a `fleetmedic-agent run` gets. The one place the optional parts are
 * plugged in: health checks and auto-recovery (agent/src/health, agent/src/recovery) and the cloud link
 * (agent/src/cloud) add their AgentModule / TargetProvider here.
 */
import type Docker from 'dockerode';
import type { AgentModule } from './agent.js';
import type { Clock } from './clock.js';
import { ConfigError, type AgentConfig } from './config.js';
import type { Logger } from './log.js';
import { FileTargetProvider } from './target/file-provider.js';
import type { TargetProvider } from './target/provider.js';

export interface WiringDeps {
  docker: Docker;
  log: Logger;
  clock: Clock;
}

export interface Wiring {
  targetProvider?: TargetProvider;
  modules: AgentModule[];
}

export async function wire(config: AgentConfig, _deps: WiringDeps): Promise<Wiring> {
  const modules: AgentModule[] = [];
  let targetProvider: TargetProvider | undefined;
  if (config.targetFile) targetProvider = new FileTargetProvider(config.targetFile);
  if (config.cloud) {
    // The cloud link (agent/src/cloud) registers its TargetProvider (unless --target-file pins the target) and
    // its module here.
    throw new ConfigError('the cloud link is not wired into this build yet: use --target-file');
  }
  if (!targetProvider) throw new ConfigError('no target source: pass --target-file <file> or --api-url/--device-id/--token-file');
  return { targetProvider, modules };
}
